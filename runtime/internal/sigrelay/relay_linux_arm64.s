#include "textflag.h"

// relayHandler is the signal handler, called by the kernel in the C ABI
// with the signal's number in R0, on the thread's signal stack. It writes
// that number, as one byte, to relayFD and returns (to the restorer, in
// the link register); the kernel puts back every register it touches.
TEXT ·relayHandler(SB),NOSPLIT|NOFRAME,$0
	SUB	$16, RSP
	MOVB	R0, 0(RSP)
	MOVW	·relayFD(SB), R0
	MOVD	RSP, R1
	MOVD	$1, R2
	MOVD	$64, R8 // SYS_write
	SVC
	ADD	$16, RSP
	RET

// relayRestorer returns from a handler.
TEXT ·relayRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVD	$139, R8 // SYS_rt_sigreturn
	SVC
	BRK	// not reached

DATA ·handlerPC+0(SB)/8, $·relayHandler(SB)
GLOBL ·handlerPC(SB), RODATA, $8
DATA ·restorerPC+0(SB)/8, $·relayRestorer(SB)
GLOBL ·restorerPC(SB), RODATA, $8
