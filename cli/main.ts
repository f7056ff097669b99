/**
 * The thaw CLI. Exit codes: 0 success, 1 runtime failure, 2 usage error. Every failure ends in
 * report.ts's one line (THAW_DEBUG=1 adds the stack trace).
 */
import { UsageError, suggest } from './args.ts';
import { COMMANDS } from './commands.ts';
import { report } from './report.ts';
// The bundle (build.mjs) inlines package.json, so dist/cli.js reads no file for it.
import pkg from '../package.json' with { type: 'json' };

const VERSION: string = pkg.version;

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n');
  return `thaw ${VERSION} — transfer learning on WebGPU

Usage: thaw <command> [options]

Commands:
${rows}

Run 'thaw <command> --help' for a command's options and examples.`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(mainHelp());
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-v') { console.log(VERSION); return 0; }
  const c = COMMANDS[cmd];
  // Errors thrown outside the command's own promise chain (event handlers, timers) end the same way.
  const fatal = (e: unknown) => {
    const r = report(cmd, e);
    console.error(r.text);
    process.exit(r.code);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  try {
    if (!c) throw new UsageError(`thaw: unknown command '${cmd}'.${suggest(cmd, Object.keys(COMMANDS))} Run 'thaw --help' for the list.`);
    if (rest.includes('--help') || rest.includes('-h')) { console.log(c.help()); return 0; }
    await c.run(rest);
    return 0;
  } catch (e) {
    const r = report(cmd, e);
    console.error(r.text);
    return r.code;
  }
}

const code = await main(process.argv.slice(2));
// Dawn keeps handles open; exit explicitly once the command is done.
process.exit(code);
