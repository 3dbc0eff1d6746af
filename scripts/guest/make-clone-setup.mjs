// Write the guest's tsula-clone-setup (see clone-setup.s, its source) as a static x86-64 ELF:
// the 525 bytes of its position-independent code and strings behind one ELF header and one
// PT_LOAD program header. No toolchain needed at guest build time; to change it, edit the .s,
// then `as -o s.o clone-setup.s && ld -n -o s s.o && objcopy -O binary -j .text s t.bin &&
// xxd -p t.bin` for CODE, and `sha256sum clone-setup.s` for SOURCE_SHA256 (the unit test
// checks that the two go together).
import { writeFileSync, chmodSync } from 'node:fs';

export const SOURCE_SHA256 = '5667cee24ce2ae78b8c8e25a0becb70049d8d891300f448c2873cb7a1b499b3e';
const CODE = Buffer.from(
  '4881ecb000000031ff4889e6baa800000031c00f05bb01000000483da80000000f8577010000448b6c245c418d45'
  + 'ff83f83f0f8765010000f6442458020f855601000031ff4889e6b8e30000000f05bb020000004885c00f85400100'
  + '00488d3d6d010000be01000000b8020000000f05bb030000004885c00f881f0100004989c44c89e7be0352084048'
  + '8d542410b8100000000f05bb040000004885c00f85fa0000004c89e7be0752000031d2b8100000000f05bb050000'
  + '004885c00f85db000000488d7c24604c89eeb8aa0000000f05bb060000004885c00f85be000000488d3df8000000'
  + 'be41020000baa4010000b8020000000f05bb070000004885c00f88980000004989c44c89e7488d742460498d5501'
  + 'b8010000000f054839d0757d4c89e7b8030000000f05f644245801746841bed007000048c78424a0000000000000'
  + '0048c78424a8000000404b4c00488d3d96000000488d3595000000488d15a00000004531d24531c0b8a50000000f'
  + '054885c07423bb080000004883f8ea751c41ffce7417488dbc24a000000031f6b8230000000f05ebb631dbeb2b48'
  + '3d01f0ffff722348f7d8888424a0000000bf02000000488db424a0000000ba01000000b8010000000f0589dfb83c'
  + '0000000f052f6465762f7572616e646f6d002f6574632f686f73746e616d65007473756c61002f72756e2f747375'
  + '6c612f7368617265640076697274696f667300', 'hex');
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
if (!out) throw new Error('usage: make-clone-setup.mjs OUTFILE');
writeFileSync(out, Buffer.concat([eh, ph, CODE]));
chmodSync(out, 0o755);
