/** `ctrace classify <path>...`: the classifier on strings, one JSON line per path. */
import type { Writable } from 'node:stream';
import { classifyCgroupPath } from '../classify/classify.js';

export function classifyCommand(paths: string[], out: Writable): number {
  const lines = paths.map((path) => {
    const c = classifyCgroupPath(path);
    return JSON.stringify({ path, scope: c.scope, rule: c.rule, container: c.container });
  });
  out.write(lines.join('\n') + '\n');
  return 0;
}
