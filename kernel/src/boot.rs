//! From the multiboot loader to Rust: a multiboot header with explicit load
//! addresses (so a flat binary boots), and a 32-bit trampoline that
//! identity-maps the first GiB with 2 MiB pages, enters long mode and calls
//! `kmain` on a 64 KiB boot stack.

core::arch::global_asm!(
    r#"
.section .multiboot, "a"
.align 4
multiboot_header:
    .long 0x1BADB002
    .long 0x00010000
    .long -(0x1BADB002 + 0x00010000)
    .long multiboot_header
    .long __load_start
    .long __load_end
    .long __bss_end
    .long _start32

.section .text.boot, "ax"
.code32
.global _start32
_start32:
    cli
    movl $boot_stack_top, %esp

    movl $boot_pdpt, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt
    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0

    lgdt gdt64_pointer
    ljmp $0x08, $long_mode_start

.code64
long_mode_start:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movq $boot_stack_top, %rsp
    call kmain
2:
    hlt
    jmp 2b

.section .rodata
.align 8
gdt64:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
gdt64_pointer:
    .word gdt64_pointer - gdt64 - 1
    .long gdt64

.section .bss
.align 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096
boot_stack:
    .skip 65536
boot_stack_top:
.section .text
"#,
    options(att_syntax)
);
