# tsula-clone-setup: what makes a VM restored from a template its own, in one tiny static
# program (a clone's guest runs cold code under TCG: this is far less of it than a shell and
# mount(8)). stdin, 168 bytes, in one write (the agent's socket pair): struct timespec (16);
# struct rand_pool_info {int entropy_count; int buf_size; u8 buf[64]} (72); u32 flags (bit 0:
# mount the share; bit 1: check the input only, change nothing: a template's rehearsal);
# u32 hostname length (1-64); the hostname and a newline. Sets the clock,
# credits the bytes to the kernel's entropy pool and reseeds the CRNG, sets the hostname (and
# /etc/hostname), then mounts the virtio-fs share `tsula` on /run/tsula/shared, trying every
# 5 ms for 10 s while its tag is unknown (EINVAL: the host hot-plugs the device as the clone
# starts). Exit: 0, or the step that failed; a failed call's errno is then one byte on stderr.
.globl _start
.text
_start:
  sub $176, %rsp
  xor %edi, %edi
  mov %rsp, %rsi
  mov $168, %edx
  xor %eax, %eax          # read
  syscall
  mov $1, %ebx
  cmp $168, %rax
  jne fail
  mov 92(%rsp), %r13d     # hostname length
  lea -1(%r13), %eax
  cmp $63, %eax
  ja fail                 # 0 or > 64
  testb $2, 88(%rsp)
  jnz ok                  # a rehearsal: the input was read and checked
  xor %edi, %edi          # CLOCK_REALTIME
  mov %rsp, %rsi
  mov $227, %eax          # clock_settime
  syscall
  mov $2, %ebx
  test %rax, %rax
  jne fail
  lea urandom(%rip), %rdi
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
  lea 96(%rsp), %rdi
  mov %r13, %rsi
  mov $170, %eax          # sethostname
  syscall
  mov $6, %ebx
  test %rax, %rax
  jne fail
  lea etchostname(%rip), %rdi
  mov $0x241, %esi        # O_WRONLY|O_CREAT|O_TRUNC
  mov $0644, %edx
  mov $2, %eax            # open
  syscall
  mov $7, %ebx
  test %rax, %rax
  js fail
  mov %rax, %r12
  mov %r12, %rdi
  lea 96(%rsp), %rsi
  lea 1(%r13), %rdx       # with the newline
  mov $1, %eax            # write
  syscall
  cmp %rdx, %rax
  jne fail
  mov %r12, %rdi
  mov $3, %eax            # close
  syscall
  testb $1, 88(%rsp)
  jz ok
  mov $2000, %r14d        # tries: 10 s
  movq $0, 160(%rsp)      # struct timespec {0, 5 ms} for nanosleep
  movq $5000000, 168(%rsp)
again:
  lea tag(%rip), %rdi
  lea shared(%rip), %rsi
  lea fstype(%rip), %rdx
  xor %r10d, %r10d
  xor %r8d, %r8d
  mov $165, %eax          # mount
  syscall
  test %rax, %rax
  jz ok
  mov $8, %ebx
  cmp $-22, %rax          # EINVAL: no device with the tag yet; anything else is final
  jne fail
  dec %r14d
  jz fail
  lea 160(%rsp), %rdi
  xor %esi, %esi
  mov $35, %eax           # nanosleep
  syscall
  jmp again
ok:
  xor %ebx, %ebx
  jmp out
fail:
  cmp $-4095, %rax        # a failed call (-errno in rax): its errno, one byte, on stderr
  jb out
  neg %rax
  mov %al, 160(%rsp)
  mov $2, %edi
  lea 160(%rsp), %rsi
  mov $1, %edx
  mov $1, %eax            # write
  syscall
out:
  mov %ebx, %edi
  mov $60, %eax           # exit
  syscall
urandom: .asciz "/dev/urandom"
etchostname: .asciz "/etc/hostname"
tag: .asciz "tsula"
shared: .asciz "/run/tsula/shared"
fstype: .asciz "virtiofs"
