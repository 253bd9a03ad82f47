// A real OpenID Connect provider for the sign-in tests (tests/oidc.py): npm's
// oidc-provider with its development login and consent pages, one confidential client
// ("oncall") and accounts read from a JSON file on every look-up, so a test can change
// what an account's claims say (email, email_verified, groups) between logins.
//
// Environment: OIDC_TEST_MODULES (the directory holding node_modules, from
// scripts/oidc-provider-env.sh), OIDC_TEST_ISSUER, OIDC_TEST_PORT, OIDC_TEST_CLIENT_SECRET,
// OIDC_TEST_REDIRECT_URIS (JSON list), OIDC_TEST_ACCOUNTS (path of {login: claims}).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const main = join(env.OIDC_TEST_MODULES, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(main).href);

const provider = new Provider(env.OIDC_TEST_ISSUER, {
  clients: [
    {
      client_id: 'oncall',
      client_secret: env.OIDC_TEST_CLIENT_SECRET,
      redirect_uris: JSON.parse(env.OIDC_TEST_REDIRECT_URIS),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { required: () => true },
  cookies: { keys: ['oncall-oidc-test-cookie-key'] },
  async findAccount(ctx, id) {
    const accounts = JSON.parse(readFileSync(env.OIDC_TEST_ACCOUNTS, 'utf8'));
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
});
provider.listen(Number(env.OIDC_TEST_PORT), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${env.OIDC_TEST_PORT} as ${env.OIDC_TEST_ISSUER}`);
});
