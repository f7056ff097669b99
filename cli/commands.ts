/** The CLI's command table: each command's summary, help (with examples) and runner. */
import { parseArgs, optionHelp, type OptionSpec } from './args.ts';

export interface Command {
  summary: string;
  help(): string;
  run(argv: string[]): Promise<void>;
}

function command(name: string, summary: string, usage: string, spec: Record<string, OptionSpec>, examples: string[],
  run: (p: ReturnType<typeof parseArgs>) => Promise<void>): Command {
  return {
    summary,
    help: () => `${summary}\n\nUsage: thaw ${name} ${usage}\n\nOptions:\n${optionHelp(spec)}\n\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`,
    run: (argv) => run(parseArgs(argv, spec, name)),
  };
}

export const COMMANDS: Record<string, Command> = {
  info: command('info', 'Show the WebGPU adapter, driver, backend, features and limits', '[--json]',
    { json: { type: 'boolean', help: 'print JSON' } },
    ['thaw info', 'THAW_ADAPTER=swiftshader thaw info --json'],
    async (p) => (await import('./info.ts')).info(!!p.options.json)),
};
