import { main } from '../shim/main.js';

void main(process.argv);
