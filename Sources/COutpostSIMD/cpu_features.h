#ifndef OUTPOST_CPU_FEATURES_H
#define OUTPOST_CPU_FEATURES_H

// Shared by the target's C files, not part of its public header.

/// Whether the CPU has AVX2 and FMA (checked once); 0 on non-x86 machines.
int outpost_cpu_has_avx2_fma(void);

/// Whether the CPU has AVX-512 F and DQ (checked once); 0 on non-x86 machines.
int outpost_cpu_has_avx512(void);

#endif
