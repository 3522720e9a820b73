/**
 * Shell completion scripts, generated from the commander definitions (the same source as
 * --help and the man page): commands, their options, option values with fixed choices,
 * and file names where a command or an option takes a path.
 */
import type { Command, Option } from 'commander';

interface Spec {
  name: string;
  description: string;
  options: Array<{ short?: string; long?: string; description: string; takesValue: boolean; choices: string[]; file: boolean }>;
  /** positional arguments are files (read, verify) */
  fileArgs: boolean;
  argChoices: string[];
}

const FILE_VALUE = /path|file|log>|<log|socket/;

function specOf(cmd: Command): Spec {
  const options = cmd.options.map((o: Option) => ({
    short: o.short,
    long: o.long,
    description: o.description,
    takesValue: o.required || o.optional,
    choices: o.argChoices ?? [],
    file: FILE_VALUE.test(o.flags),
  }));
  options.push({ short: '-h', long: '--help', description: 'display help for command', takesValue: false, choices: [], file: false });
  const args = cmd.registeredArguments;
  return {
    name: cmd.name(),
    description: cmd.description(),
    options,
    fileArgs: args.some((a) => /file|log|path/.test(a.name())),
    argChoices: args.flatMap((a) => a.argChoices ?? []),
  };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(program: Command): string {
  const cmds = program.commands.map(specOf);
  const lines: string[] = [
    `# ctrace completion for bash. Load with: source <(ctrace completion bash)`,
    `_ctrace() {`,
    `  local cur prev cmd i`,
    `  cur="\${COMP_WORDS[COMP_CWORD]}"`,
    `  prev="\${COMP_WORDS[COMP_CWORD-1]}"`,
    `  cmd=""`,
    `  for ((i = 1; i < COMP_CWORD; i++)); do`,
    `    case "\${COMP_WORDS[i]}" in -*) ;; *) cmd="\${COMP_WORDS[i]}"; break ;; esac`,
    `  done`,
    `  if [[ -z "$cmd" ]]; then`,
    `    COMPREPLY=($(compgen -W ${q(['-h', '--help', '-V', '--version', ...cmds.map((c) => c.name)].join(' '))} -- "$cur"))`,
    `    return`,
    `  fi`,
    `  case "$cmd" in`,
  ];
  for (const c of cmds) {
    lines.push(`    ${c.name})`);
    const valued = c.options.filter((o) => o.takesValue);
    if (valued.length) {
      lines.push(`      case "$prev" in`);
      for (const o of valued) {
        const pat = [o.short, o.long].filter(Boolean).join('|');
        const action = o.choices.length
          ? `COMPREPLY=($(compgen -W ${q(o.choices.join(' '))} -- "$cur"))`
          : o.file
            ? `COMPREPLY=($(compgen -f -- "$cur"))`
            : `COMPREPLY=()`;
        lines.push(`        ${pat}) ${action}; return ;;`);
      }
      lines.push(`      esac`);
    }
    const words = c.options.flatMap((o) => [o.short, o.long].filter((x): x is string => !!x)).join(' ');
    lines.push(`      if [[ "$cur" == -* ]]; then`);
    lines.push(`        COMPREPLY=($(compgen -W ${q(words)} -- "$cur"))`);
    if (c.argChoices.length) {
      lines.push(`      else`, `        COMPREPLY=($(compgen -W ${q(c.argChoices.join(' '))} -- "$cur"))`);
    } else if (c.fileArgs) {
      lines.push(`      else`, `        COMPREPLY=($(compgen -f -- "$cur"))`);
    }
    lines.push(`      fi`, `      ;;`);
  }
  lines.push(`  esac`, `}`, `complete -o filenames -F _ctrace ctrace`, '');
  return lines.join('\n');
}

function zsh(program: Command): string {
  // zsh runs the bash function through its bash-completion layer: one definition to keep right
  return [
    `#compdef ctrace`,
    `# ctrace completion for zsh. Load with: source <(ctrace completion zsh)`,
    `autoload -U +X bashcompinit && bashcompinit`,
    bash(program).split('\n').slice(1).join('\n'),
  ].join('\n');
}

function fish(program: Command): string {
  const cmds = program.commands.map(specOf);
  const names = cmds.map((c) => c.name).join(' ');
  const lines = [`# ctrace completion for fish. Load with: ctrace completion fish | source`, `complete -c ctrace -f`];
  for (const c of cmds) {
    lines.push(`complete -c ctrace -n "not __fish_seen_subcommand_from ${names}" -a ${c.name} -d ${q(c.description)}`);
    const cond = `-n "__fish_seen_subcommand_from ${c.name}"`;
    for (const o of c.options) {
      const parts = [`complete -c ctrace ${cond}`];
      if (o.short) parts.push(`-s ${o.short.slice(1)}`);
      if (o.long) parts.push(`-l ${o.long.slice(2)}`);
      if (o.takesValue) parts.push(o.choices.length ? `-x -a ${q(o.choices.join(' '))}` : o.file ? '-r -F' : '-x');
      parts.push(`-d ${q(o.description.split(';')[0]!)}`);
      lines.push(parts.join(' '));
    }
    if (c.argChoices.length) lines.push(`complete -c ctrace ${cond} -a ${q(c.argChoices.join(' '))}`);
    else if (c.fileArgs) lines.push(`complete -c ctrace ${cond} -F`);
  }
  return lines.join('\n') + '\n';
}

export function completionScript(program: Command, shell: 'bash' | 'zsh' | 'fish'): string {
  return shell === 'bash' ? bash(program) : shell === 'zsh' ? zsh(program) : fish(program);
}
