import { main } from '../sandboxer/daemon.js';

void main(process.argv);
