// Write the guest's tsula-clone-seed (see clone-seed.s, its source) as a static x86-64 ELF:
// the 167 bytes of its position-independent code behind one ELF header and one PT_LOAD
// program header. No toolchain needed at guest build time; to change it, edit the .s, then
// `as -o s.o clone-seed.s && ld -n -o s s.o && objcopy -O binary -j .text s t.bin && xxd -p t.bin`.
import { writeFileSync, chmodSync } from 'node:fs';

const CODE = Buffer.from(
  '4881ec8000000031ff4889e6ba5800000031c00f05bb010000004883f858757131ff4889e6b8e30000000f05bb02'
  + '0000004885c0755b488d3d5d000000be01000000b8020000000f05bb030000004885c0783e4989c44c89e7be0352'
  + '0840488d542410b8100000000f05bb040000004885c0751d4c89e7be0752000031d2b8100000000f05bb05000000'
  + '4885c0750231db89dfb83c0000000f052f6465762f7572616e646f6d00', 'hex');
const BASE = 0x400000n;
const HDR = 64 + 56;
const eh = Buffer.alloc(64);
eh.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // ELF, 64-bit, little-endian, version 1
eh.writeUInt16LE(2, 16); // ET_EXEC
eh.writeUInt16LE(0x3e, 18); // x86-64
eh.writeUInt32LE(1, 20);
eh.writeBigUInt64LE(BASE + BigInt(HDR), 24); // entry
eh.writeBigUInt64LE(64n, 32); // phoff
eh.writeUInt16LE(64, 52); // ehsize
eh.writeUInt16LE(56, 54); // phentsize
eh.writeUInt16LE(1, 56); // phnum
const ph = Buffer.alloc(56);
const size = BigInt(HDR + CODE.length);
ph.writeUInt32LE(1, 0); // PT_LOAD
ph.writeUInt32LE(5, 4); // R+X
ph.writeBigUInt64LE(BASE, 16);
ph.writeBigUInt64LE(BASE, 24);
ph.writeBigUInt64LE(size, 32);
ph.writeBigUInt64LE(size, 40);
ph.writeBigUInt64LE(0x1000n, 48);
const out = process.argv[2];
if (!out) throw new Error('usage: make-clone-seed.mjs OUTFILE');
writeFileSync(out, Buffer.concat([eh, ph, CODE]));
chmodSync(out, 0o755);
