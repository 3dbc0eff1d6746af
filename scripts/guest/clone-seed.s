# tsula-clone-seed: a VM clone's first step. stdin: 88 bytes = struct timespec (16) then
# struct rand_pool_info {int entropy_count; int buf_size; u8 buf[64]} (72). Sets the clock,
# credits the bytes to the kernel's entropy pool, reseeds the CRNG. Exit: 0, or the failed step.
.globl _start
.text
_start:
  sub $128, %rsp
  xor %edi, %edi
  mov %rsp, %rsi
  mov $88, %edx
  xor %eax, %eax          # read
  syscall
  mov $1, %ebx
  cmp $88, %rax
  jne fail
  xor %edi, %edi          # CLOCK_REALTIME
  mov %rsp, %rsi
  mov $227, %eax          # clock_settime
  syscall
  mov $2, %ebx
  test %rax, %rax
  jne fail
  lea path(%rip), %rdi
  mov $1, %esi            # O_WRONLY
  mov $2, %eax            # open
  syscall
  mov $3, %ebx
  test %rax, %rax
  js fail
  mov %rax, %r12
  mov %r12, %rdi
  mov $0x40085203, %esi   # RNDADDENTROPY
  lea 16(%rsp), %rdx
  mov $16, %eax           # ioctl
  syscall
  mov $4, %ebx
  test %rax, %rax
  jne fail
  mov %r12, %rdi
  mov $0x5207, %esi       # RNDRESEEDCRNG
  xor %edx, %edx
  mov $16, %eax
  syscall
  mov $5, %ebx
  test %rax, %rax
  jne fail
  xor %ebx, %ebx
fail:
  mov %ebx, %edi
  mov $60, %eax           # exit
  syscall
path: .asciz "/dev/urandom"
