import { describe, expect, it } from 'vitest';
import { runShopCommand } from './command.js';

async function run(args: string[], env: Record<string, string | undefined> = {}) {
  const lines: string[] = [];
  const code = await runShopCommand(args, (l) => lines.push(l), { env });
  return { code, lines };
}

describe('runShopCommand', () => {
  it.each([
    [
      ['traffic', '--url', 'postgres://h/db', '--rate', '5', '--duration', '1', '--bogus'],
      /does not take --bogus/,
    ],
    [['seed', '--url', 'postgres://h/db'], /needs --customers/],
    [['seed', '--customers', '10'], /SLUICE_DATABASE_URL/],
    [['seed', '--url', 'localhost', '--customers', '10'], /postgres:\/\/ URL/],
    [['seed', '--url', 'postgres://h/db', '--customers', 'ten'], /--customers must be an integer/],
    [
      ['traffic', '--url', 'postgres://h/db', '--rate=-1', '--duration', '1'],
      /--rate must be a positive number/,
    ],
    [['traffic', '--url', 'postgres://h/db', '--rate', '5'], /needs --duration/],
    [['traffic', '--url', 'postgres://h/db', '--rate'], /--rate needs a value/],
    [['seed', 'extra'], /no positional arguments/],
    [['frobnicate'], /unknown shop command "frobnicate"/],
  ])('%j is a usage error: one sentence, exit 2', async (args, message) => {
    const { code, lines } = await run(args);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });

  it('prints usage for help (exit 0) and for nothing (exit 2)', async () => {
    expect((await run(['--help'])).code).toBe(0);
    const bare = await run([]);
    expect(bare.code).toBe(2);
    expect(bare.lines.join('\n')).toMatch(/usage: sluice example shop seed/);
  });

  it('reports an unreachable database in one line with exit 1, password redacted', async () => {
    const { code, lines } = await run(['seed', '--customers', '1'], {
      SLUICE_DATABASE_URL: 'postgres://u:secret@127.0.0.1:1/shop',
    });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/shop/);
    expect(lines[0]).not.toMatch(/secret/);
  });
});
