import type { Command } from 'commander';
import { generateSigningKey, parseSigningKey } from '../exchange/keys.js';
import { signingKeyOf } from '../platform/secrets.js';
import { action, CliError, cliConfig, jsonOption, print } from './shared.js';

/**
 * `netsync keys`: the Ed25519 key pair that signs exchange files. The private half goes to the Response
 * side only; the public half (and nothing else) to every Request side.
 */

/** A new pair, printed with where each half goes. Nothing is written: the operator decides where it lives. */
async function generate(opts: { json?: boolean }): Promise<number> {
  const privateKey = generateSigningKey();
  const key = parseSigningKey(privateKey);
  const pub = key.publicKey.text;
  print(opts.json, { key_id: key.id, public_key: pub, private_key: privateKey }, () =>
    [
      `A new exchange signing key pair, key id ${key.id}.`,
      '',
      'On the Response side only (secret: keep it owner-only, never give it to a Request side):',
      `  EXCHANGE_SIGNING_KEY=${privateKey}`,
      '',
      'On every Request side (public):',
      `  EXCHANGE_TRUSTED_KEYS=${pub}`,
      '',
      'To rotate keys, first trust this one on each Request side beside the key it trusts now:',
      `  EXCHANGE_TRUSTED_KEYS=<old public key>,${pub}`,
      'then sign with it on the Response side; once each Request side has applied what the old key',
      'signed (and the next snapshots, signed with this one, are written), drop the old key there.',
      '',
    ].join('\n'),
  );
  return 0;
}

/** The public half of this machine's signing key: what a Request side is told to trust. */
async function show(opts: { json?: boolean }): Promise<number> {
  const found = signingKeyOf(cliConfig());
  if (!found) {
    throw new CliError(
      'no signing key here: set EXCHANGE_SIGNING_KEY (make one with `netsync keys generate`), or run ' +
        '`netsync up` once, which keeps one under DATA_DIR. Run this on the Response side',
    );
  }
  const { key, from } = found;
  print(opts.json, { key_id: key.id, public_key: key.publicKey.text }, () =>
    [
      `key id      ${key.id}`,
      `public key  ${key.publicKey.text}`,
      `from        ${from}`,
      '',
      'On each Request side:',
      `  EXCHANGE_TRUSTED_KEYS=${key.publicKey.text}`,
      '(while rotating, list it beside the key it trusts now, comma-separated)',
      '',
    ].join('\n'),
  );
  return 0;
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the key pair that signs exchange files');
  keys
    .command('generate')
    .description('print a new key pair: the private key for the Response side, the public key for Request sides')
    .addOption(jsonOption())
    .action(action(generate));
  keys
    .command('show')
    .description("print the signing key's public half and id, to copy to each Request side")
    .addOption(jsonOption())
    .action(action(show));
}
