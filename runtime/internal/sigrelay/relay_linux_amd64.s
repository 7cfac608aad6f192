#include "textflag.h"

// relayHandler is the signal handler, called by the kernel in the C ABI
// with the signal's number in DI, on the thread's signal stack. It writes
// that number, as one byte, to relayFD and returns through the restorer;
// the kernel puts back every register it touches. A full or closed pipe
// loses the signal, as a full os/signal channel does.
TEXT ·relayHandler(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$16, SP
	MOVB	DI, 0(SP)
	MOVL	·relayFD(SB), DI
	MOVQ	SP, SI
	MOVL	$1, DX
	MOVL	$1, AX // SYS_write
	SYSCALL
	ADDQ	$16, SP
	RET

// relayRestorer returns from a handler (SA_RESTORER is mandatory on amd64).
TEXT ·relayRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVL	$15, AX // SYS_rt_sigreturn
	SYSCALL
	INT	$3 // not reached

DATA ·handlerPC+0(SB)/8, $·relayHandler(SB)
GLOBL ·handlerPC(SB), RODATA, $8
DATA ·restorerPC+0(SB)/8, $·relayRestorer(SB)
GLOBL ·restorerPC(SB), RODATA, $8
