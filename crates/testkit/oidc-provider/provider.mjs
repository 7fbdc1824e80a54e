// A throwaway OpenID provider for the registry-auth tests: npm's
// oidc-provider behind node's HTTPS server, on 127.0.0.1 only.
//
// Started by `registry_auth_testkit::OidcProvider` as
//   node provider.mjs CONFIG.json ISSUER
// (the issuer is on the command line only so that a test can find the
// process). CONFIG.json says:
//   issuer        "https://127.0.0.1:PORT": where to listen, and the `iss`
//   tls           { cert, key }: PEM files of the server certificate
//   audience      the `aud` of the JWT access tokens
//   resource      the resource indicator that stands for the audience
//   access_token_ttl  seconds
//   robot         { client_id, client_secret }: the client_credentials client
//   login         { client_id, client_secret, redirect_uris }: the
//                 authorization-code client
//   users         [{ login, password, claims: { sub, ... } }]
//
// The signing key (RSA, RS256) and the cookie keys are made afresh at each
// start. Logins go through a plain form (fields `login` and `password`) at
// /interaction/UID that checks the password; consent is given at once.
// Everything that happens is logged to stdout, which the test keeps.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import Provider, { errors } from 'oidc-provider';

const [configPath] = process.argv.slice(2);
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json [ISSUER]');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = new URL(config.issuer);

const log = (...args) => console.log(new Date().toISOString(), ...args);

// The signing key: RS256, whose `kid` the JWKS and every token header carry.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `testkit-${randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

const resourceServer = {
  scope: 'api',
  audience: config.audience,
  accessTokenTTL: config.access_token_ttl,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: 'RS256' } },
};

const usersBySub = new Map(config.users.map((user) => [user.claims.sub, user]));
const usersByLogin = new Map(config.users.map((user) => [user.login, user]));

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Plain pages: nothing loaded from elsewhere (a browser in a test has no
// network beyond 127.0.0.1).
const page = (title, body) => `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body>
<h1>${escape(title)}</h1>
${body}
</body>
</html>
`;

const configuration = {
  clients: [
    {
      client_id: config.robot.client_id,
      client_secret: config.robot.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // client_secret_post is accepted as well.
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: config.login.client_id,
      client_secret: config.login.client_secret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: config.login.redirect_uris,
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  // Scope-requested claims (groups above all) go into the ID token too, not
  // only to the userinfo endpoint.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The robot gets tokens for the audience without asking; the login
      // client gets them when it asks (`resource=` the indicator), and
      // otherwise an opaque access token for the userinfo endpoint.
      defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf;
        return client?.clientId === config.robot.client_id ? config.resource : undefined;
      },
      getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator === config.resource || resourceIndicator === config.audience) {
          return resourceServer;
        }
        throw new errors.InvalidTarget(`unknown resource indicator ${resourceIndicator}`);
      },
      useGrantedResource: () => true,
    },
  },
  async findAccount(ctx, sub) {
    const user = usersBySub.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { ...user.claims };
      },
    };
  },
  ttl: {
    AccessToken: config.access_token_ttl,
    AuthorizationCode: 60,
    ClientCredentials: config.access_token_ttl,
    IdToken: config.access_token_ttl,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
    RefreshToken: 86400,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out)
      .map(([key, value]) => `<p><strong>${escape(key)}</strong>: <span class="${escape(key)}">${escape(value)}</span></p>`)
      .join('\n'));
  },
};

const provider = new Provider(issuer.origin, configuration);

for (const event of [
  'server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error',
  'end_session.error', 'interaction.error',
]) {
  provider.on(event, (...args) => {
    const err = args.find((arg) => arg instanceof Error);
    log(`${event}:`, err ? `${err.name}: ${err.message} ${err.error_description ?? ''}` : args);
  });
}
provider.on('grant.success', (ctx) => log('grant.success', ctx.oidc.client?.clientId));

const loginForm = (uid, error, login) => page('Sign-in', `${error ? `<p class="error" role="alert">${escape(error)}</p>\n` : ''}<form method="post" action="/interaction/${escape(uid)}" autocomplete="off">
  <label>Login <input type="text" name="login" id="login" required autofocus value="${escape(login ?? '')}"></label>
  <label>Password <input type="password" name="password" id="password" required></label>
  <button type="submit" id="submit">Sign in</button>
</form>
<p><a href="/interaction/${escape(uid)}/abort">Cancel</a></p>`);

const send = (res, status, html) => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
};

const readForm = async (req) => {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
};

// GET /interaction/UID: the login form, or consent given at once.
// POST /interaction/UID: the login form's fields.
// GET /interaction/UID/abort: access_denied back to the client.
const interaction = async (req, res, uid, action) => {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p>This sign-in is not the current one.</p>'));
    return;
  }
  const { prompt, params, session } = details;
  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    if (req.method === 'GET') {
      send(res, 200, loginForm(uid, undefined, params.login_hint));
      return;
    }
    const form = await readForm(req);
    const user = usersByLogin.get(form.get('login'));
    if (!user || user.password !== form.get('password')) {
      log(`login refused: ${JSON.stringify(form.get('login'))}`);
      send(res, 401, loginForm(uid, 'Invalid login or password.', form.get('login')));
      return;
    }
    log(`login: ${user.login}`);
    await provider.interactionFinished(req, res, {
      login: { accountId: user.claims.sub },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  send(res, 501, page('Error', `<p>prompt ${escape(prompt.name)} is not implemented</p>`));
};

// Static clients are checked only when first used: check them now, so that
// bad settings (a redirect URI that is no URI) fail the start.
for (const clientId of [config.robot.client_id, config.login.client_id]) {
  try {
    await provider.Client.find(clientId);
  } catch (err) {
    log(`client ${clientId}: ${err.message} ${err.error_description ?? ''}`);
    process.exit(1);
  }
}

const callback = provider.callback();
const server = createServer({
  cert: readFileSync(config.tls.cert),
  key: readFileSync(config.tls.key),
}, (req, res) => {
  res.on('finish', () => log(req.method, req.url.split('?')[0], res.statusCode));
  const match = /^\/interaction\/([\w-]+)(\/abort)?(?:\?.*)?$/.exec(req.url);
  let action;
  if (match?.[2]) {
    action = req.method === 'GET' ? 'abort' : undefined;
  } else if (match) {
    action = ['GET', 'POST'].includes(req.method) ? req.method : undefined;
  }
  if (action) {
    interaction(req, res, match[1], action).catch((err) => {
      log(`interaction: ${err.name}: ${err.message}`);
      if (!res.headersSent) {
        send(res, err instanceof errors.SessionNotFound ? 400 : 500, page('Error', `<p>${escape(err.message)}</p>`));
      } else {
        res.end();
      }
    });
    return;
  }
  callback(req, res);
});

server.on('error', (err) => {
  log(`server: ${err.code ?? ''} ${err.message}`);
  process.exit(err.code === 'EADDRINUSE' ? 98 : 1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}

server.listen(Number(issuer.port), issuer.hostname, () => {
  log(`oidc-provider listening: issuer ${provider.issuer}, signing key ${signingKey.kid}`);
});
