/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * switch.S - the G context switch for x86-64 (System V ABI).
 *
 * void sact_ctx_switch(void **save_sp, void *load_sp);
 *
 *	Saves the caller's context on its own stack, stores the resulting
 *	stack pointer in *save_sp, loads load_sp (a frame saved by an earlier
 *	switch, or one built by gframe_init() in proc.c) and returns into it.
 *	The switch is a plain function call: the caller-saved registers are
 *	already dead by the ABI, so only the callee-saved ones are kept.
 *
 * The saved frame, from the saved stack pointer upwards; mirrored by
 * struct ctx_frame in internal.h (offsets checked by _Static_assert):
 *
 *	offset	size	what
 *	 0	4	MXCSR: SSE rounding mode, exception masks (callee-saved
 *			control bits per the ABI)
 *	 4	2	x87 FPU control word (precision, rounding; callee-saved)
 *	 6	2	padding
 *	 8	8	r15
 *	16	8	r14
 *	24	8	r13	(new G: its struct g *, the entry argument)
 *	32	8	r12	(new G: the C entry function)
 *	40	8	rbx
 *	48	8	rbp	(new G: 0, ends frame-pointer backtraces)
 *	56	8	return address (new G: sact_gstart)
 *	64		the caller's stack before the call
 *
 * Alignment: at the call rsp % 16 == 0, the call pushes 8, six pushes and
 * the 8-byte control area make 56 more: the saved sp is 16-byte aligned.
 * A new G's frame is placed so that sp + 64 is 16-byte aligned too: after
 * `ret` into sact_gstart, rsp % 16 == 0 there, as a `call` requires.
 *
 * Not saved: the SSE/AVX data registers (caller-saved), the x87 stack
 * (empty across calls), the status flags, and fs (one OS thread's TLS).
 */
	.text

	.globl	sact_ctx_switch
	.hidden	sact_ctx_switch
	.type	sact_ctx_switch, @function
	.p2align 4
sact_ctx_switch:
	.cfi_startproc
	endbr64				/* an indirect-branch target under CET */
	pushq	%rbp			/* frame +48 */
	.cfi_adjust_cfa_offset 8
	pushq	%rbx			/* frame +40 */
	.cfi_adjust_cfa_offset 8
	pushq	%r12			/* frame +32 */
	.cfi_adjust_cfa_offset 8
	pushq	%r13			/* frame +24 */
	.cfi_adjust_cfa_offset 8
	pushq	%r14			/* frame +16 */
	.cfi_adjust_cfa_offset 8
	pushq	%r15			/* frame +8 */
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp		/* room for the two control words */
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)			/* frame +0: MXCSR */
	fnstcw	4(%rsp)			/* frame +4: x87 control word */
	movq	%rsp, (%rdi)		/* *save_sp = this frame */
	movq	%rsi, %rsp		/* now on the other context's stack */
	ldmxcsr	(%rsp)			/* its MXCSR */
	fldcw	4(%rsp)			/* its x87 control word */
	addq	$8, %rsp		/* drop the control area */
	popq	%r15			/* its callee-saved registers ... */
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp			/* ... down to the frame pointer */
	ret				/* into its caller, or sact_gstart */
	.cfi_endproc
	.size	sact_ctx_switch, .-sact_ctx_switch

/*
 * sact_gstart: where a new G's first switch returns to.  r12 holds the C
 * entry function, r13 its argument (the G).  The entry never returns (it
 * ends in goexit); if it did, sact_gstart_returned() throws.
 */
	.globl	sact_gstart
	.hidden	sact_gstart
	.type	sact_gstart, @function
	.p2align 4
sact_gstart:
	.cfi_startproc
	.cfi_undefined rip		/* outermost frame: unwinders stop here */
	endbr64				/* reached by `ret`, harmless otherwise */
	movq	%r13, %rdi		/* first argument: the G */
	callq	*%r12			/* the entry (gentry in proc.c) */
	callq	sact_gstart_returned	/* unreachable: throws */
	ud2				/* and never returns */
	.cfi_endproc
	.size	sact_gstart, .-sact_gstart

	.section .note.GNU-stack,"",@progbits
