/**
 * What ctrace needs when it does not run as root, named in one place (native/errors.h says the
 * same in the addon's messages; test/capabilities.e2e.test.ts checks both against the kernel):
 * CAP_BPF to load programs and maps, CAP_PERFMON to attach tracepoints and read kernel memory
 * (the BPF helpers the probes use), CAP_DAC_READ_SEARCH to open tracefs (mode 0700 where the
 * kernel mounts it) and the runtimes' state directories (/run/runc is 0700). CAP_SYS_ADMIN
 * covers the first two on kernels before 5.8 (which have no CAP_BPF).
 */
export const CAPABILITIES = ['CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_READ_SEARCH'] as const;

/** "CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH" */
export const CAPABILITY_TEXT = `${CAPABILITIES.slice(0, -1).join(', ')} and ${CAPABILITIES[CAPABILITIES.length - 1]}`;

/** Capability numbers (linux/capability.h). */
export const CAP = {
  CAP_DAC_OVERRIDE: 1n,
  CAP_DAC_READ_SEARCH: 2n,
  CAP_SYS_ADMIN: 21n,
  CAP_SYS_RESOURCE: 24n,
  CAP_PERFMON: 38n,
  CAP_BPF: 39n,
} as const;

/** Effective capabilities from the text of /proc/self/status. */
export function effectiveCaps(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

/** Whether `caps` may load and attach ctrace's programs (CAP_SYS_ADMIN stands for both on old kernels). */
export function canLoadBpf(caps: bigint): boolean {
  const has = (c: bigint) => (caps & (1n << c)) !== 0n;
  return has(CAP.CAP_SYS_ADMIN) || (has(CAP.CAP_BPF) && has(CAP.CAP_PERFMON));
}
