/**
 * The process tree rebuilt from events alone (`ctrace read --tree`): every event names its
 * process (processId) and its parent (parentProcessId), and an exec carries its ancestors, so
 * a log holds the links even for processes that never had an event of their own (the runc
 * that entered a container, a shell that exited before it was traced). No /proc, no guess: a
 * process whose parent no event names is a root of its own.
 */
import { escapeControl } from '../util/bytes.js';
import type { TraceEvent } from '../events/event.js';

interface Node {
  id: string;
  pid: number;
  comm: string;
  /** each exec of the process: "filename argv…" */
  execs: string[];
  entry: boolean;
  outside: boolean;
  container: string | null;
  exit: string | null;
  parent: string | null;
  children: string[];
  order: number;
}

export class ProcessTree {
  private readonly nodes = new Map<string, Node>();
  private seq = 0;

  private node(id: string, pid: number, comm: string): Node {
    let n = this.nodes.get(id);
    if (!n) {
      n = { id, pid, comm, execs: [], entry: false, outside: false, container: null, exit: null, parent: null, children: [], order: this.seq++ };
      this.nodes.set(id, n);
    }
    return n;
  }

  private link(child: Node, parentId: string | null | undefined): void {
    if (!parentId || child.parent !== null || parentId === child.id) return;
    child.parent = parentId;
  }

  add(ev: TraceEvent): void {
    if (!ev.processId) return;
    const n = this.node(ev.processId, ev.pid, ev.comm);
    if (ev.container) n.container = `${ev.container.runtime} ${ev.container.id.slice(0, 12)}`;
    this.link(n, ev.parentProcessId);
    if (ev.type === 'exec') {
      n.comm = ev.comm;
      n.execs.push(`${ev.exec.filename} ${ev.exec.argv.slice(1).join(' ')}`.trim());
      if (ev.exec.entry) n.entry = true;
      // the chain: each ancestor's parent is the next one
      const chain = ev.exec.ancestors ?? [];
      let below = n;
      for (const a of chain) {
        if (!a.processId) break;
        const an = this.node(a.processId, a.pid, a.comm);
        if (a.outside) an.outside = true;
        this.link(below, a.processId);
        below = an;
      }
    } else if (ev.type === 'exit') {
      n.exit = ev.exit.signal ? `killed by signal ${ev.exit.signal}` : `exit ${ev.exit.code}`;
    }
  }

  /** The tree as indented lines, roots in order of first sight. */
  lines(): string[] {
    for (const n of this.nodes.values()) {
      if (n.parent !== null && !this.nodes.has(n.parent)) n.parent = null;
    }
    for (const n of [...this.nodes.values()].sort((a, b) => a.order - b.order)) {
      if (n.parent !== null) this.nodes.get(n.parent)!.children.push(n.id);
    }
    const out: string[] = [];
    const seen = new Set<string>();
    const walk = (id: string, prefix: string, last: boolean, root: boolean) => {
      if (seen.has(id)) return; // a cycle could only come from a corrupt log
      seen.add(id);
      const n = this.nodes.get(id)!;
      const branch = root ? '' : last ? '└─ ' : '├─ ';
      out.push(escapeControl(prefix + branch + describe(n)));
      const childPrefix = root ? '' : prefix + (last ? '   ' : '│  ');
      n.children.forEach((c, i) => walk(c, childPrefix, i === n.children.length - 1, false));
    };
    for (const n of [...this.nodes.values()].sort((a, b) => a.order - b.order)) {
      if (n.parent === null) walk(n.id, '', true, true);
    }
    return out;
  }
}

function describe(n: Node): string {
  const parts = [`${n.pid} ${n.comm}`];
  if (n.execs.length) parts.push(n.execs.join(' → '));
  const tags: string[] = [];
  if (n.entry) tags.push('ENTRY');
  if (n.outside) tags.push('outside the container');
  if (n.container) tags.push(n.container);
  if (n.exit) tags.push(n.exit);
  if (tags.length) parts.push(`[${tags.join(', ')}]`);
  return parts.join('  ');
}
