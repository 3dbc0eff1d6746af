// Write the guest's tsula-clone-setup (see clone-setup.s, its source) as a static x86-64 ELF:
// the 463 bytes of its position-independent code behind one ELF header and one PT_LOAD
// program header. No toolchain needed at guest build time; to change it, edit the .s, then
// `as -o s.o clone-setup.s && ld -n -o s s.o && objcopy -O binary -j .text s t.bin && xxd -p t.bin`.
import { writeFileSync, chmodSync } from 'node:fs';

const CODE = Buffer.from(
  '4881ecb000000031ff4889e6baa800000031c00f05bb01000000483da80000000f8564010000448b6c245c418d45'
  + 'ff83f83f0f875201000031ff4889e6b8e30000000f05bb020000004885c00f8538010000488d3d3a010000be0100'
  + '0000b8020000000f05bb030000004885c00f88170100004989c44c89e7be03520840488d542410b8100000000f05'
  + 'bb040000004885c00f85f20000004c89e7be0752000031d2b8100000000f05bb050000004885c00f85d300000048'
  + '8d7c24604c89eeb8aa0000000f05bb060000004885c00f85b6000000488d3dc5000000be41020000baa4010000b8'
  + '020000000f05bb070000004885c00f88900000004989c44c89e7488d742460498d5501b8010000000f054839d075'
  + '754c89e7b8030000000f05f644245801746241bed007000048c78424a00000000000000048c78424a8000000404b'
  + '4c00488d3d63000000488d3562000000488d156d0000004531d24531c0b8a50000000f054885c0741dbb08000000'
  + '41ffce7415488dbc24a000000031f6b8230000000f05ebbc31db89dfb83c0000000f052f6465762f7572616e646f'
  + '6d002f6574632f686f73746e616d65007473756c61002f72756e2f7473756c612f7368617265640076697274696f'
  + '667300', 'hex');
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
