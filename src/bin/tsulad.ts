import { main } from '../engine/daemon.js';

void main(process.argv);
