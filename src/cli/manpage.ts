/**
 * The man page, generated from the commander definitions (the same source as --help and
 * the completion scripts) at build time: scripts/build.sh writes build/man/ctrace.1.
 */
import type { Command, Option } from 'commander';

/** roff-escape a line of text: backslashes, leading dots and quotes, hyphens in options */
function esc(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

function optionItem(o: Option): string[] {
  const choices = o.argChoices?.length ? ` (one of: ${o.argChoices.join(', ')})` : '';
  const dflt = o.defaultValue !== undefined && typeof o.defaultValue !== 'boolean' ? ` (default: ${String(o.defaultValue)})` : '';
  return ['.TP', `.B ${esc(o.flags)}`, esc(o.description + choices + dflt)];
}

export interface ManExtras {
  /** `.SH` sections after the commands: title → paragraphs */
  sections?: Array<[string, string[]]>;
  date?: string;
  version?: string;
}

export function manPage(program: Command, extras: ManExtras = {}): string {
  const name = program.name();
  const out: string[] = [
    `.\\" generated from ctrace's command definitions by scripts/build.sh; do not edit`,
    `.TH ${name.toUpperCase()} 1 "${extras.date ?? ''}" "${name} ${extras.version ?? program.version() ?? ''}" "User Commands"`,
    '.SH NAME',
    `${name} \\- ${esc(program.description())}`,
    '.SH SYNOPSIS',
  ];
  for (const c of program.commands) out.push(`.B ${name} ${c.name()}`, esc(c.usage()), '.br');
  out.push('.SH DESCRIPTION', esc(program.description()));
  out.push('.SH COMMANDS');
  for (const c of program.commands) {
    out.push(`.SS "${name} ${c.name()} ${esc(c.usage())}"`, esc(c.description()));
    for (const a of c.registeredArguments) {
      const choices = a.argChoices?.length ? ` (one of: ${a.argChoices.join(', ')})` : '';
      out.push('.TP', `.I ${esc(a.name())}`, esc(a.description + choices));
    }
    for (const o of c.options) out.push(...optionItem(o));
  }
  for (const [title, paras] of extras.sections ?? []) {
    out.push(`.SH ${title.toUpperCase()}`);
    for (const p of paras) out.push('.PP', esc(p));
  }
  return out.join('\n') + '\n';
}
