import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

/**
 * The smallest complete OAuthClientProvider, as an application using the SDK client writes one:
 * it keeps what the SDK hands it in memory and records the authorization URL instead of opening a
 * browser (the test's FormBrowser plays the browser).
 */
export class InMemoryOAuthClient implements OAuthClientProvider {
  clientInfo: OAuthClientInformationMixed | undefined;
  savedTokens: OAuthTokens | undefined;
  authorizationUrl: URL | undefined;
  /** Set: the SDK uses this URL as its client_id when the server supports metadata documents, instead of registering. */
  clientMetadataUrl: string | undefined;
  #verifier: string | undefined;

  constructor(readonly redirectUrl: string, readonly clientMetadata: OAuthClientMetadata) {}

  clientInformation() {
    return this.clientInfo;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.clientInfo = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.savedTokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    if (!this.#verifier) throw new Error('no code verifier saved');
    return this.#verifier;
  }
}

export function loopbackRedirect(port: number, host = '127.0.0.1'): string {
  return `http://${host}:${port}/callback`;
}

export function sdkClientMetadata(redirectUrl: string): OAuthClientMetadata {
  return {
    client_name: 'SDK test client',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}
