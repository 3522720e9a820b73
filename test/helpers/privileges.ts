/**
 * Whether this process can load BPF programs and run containers. In CI
 * (CTRACE_REQUIRE_BPF=1) a missing privilege fails the run instead of quietly
 * skipping the suites that need it.
 */
import { existsSync } from 'node:fs';

export function bpfProblem(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux)';
  return null;
}

/** True when privileged suites can run; throws when they must but cannot. */
export function privileged(): boolean {
  const problem = bpfProblem();
  if (problem && process.env.CTRACE_REQUIRE_BPF === '1') {
    throw new Error(`CTRACE_REQUIRE_BPF=1 but BPF tests cannot run: ${problem}`);
  }
  return problem === null;
}
