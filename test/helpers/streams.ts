/** A Writable that keeps what is written to it, for commands that take their output streams. */
import { Writable } from 'node:stream';

export function captureStream(): { stream: Writable; text: () => string } {
  let s = '';
  return {
    stream: new Writable({
      write(c, _e, cb) {
        s += String(c);
        cb();
      },
    }),
    text: () => s,
  };
}
