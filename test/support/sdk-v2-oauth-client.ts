import type { OAuthClientMetadata, OAuthClientProvider, OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client';

/** What an application using the SDK v2 client keeps between runs (in a file, say): plain data. */
export interface SdkV2Saved {
  clientInformation?: StoredOAuthClientInformation;
  tokens?: StoredOAuthTokens;
  /** The SDK asks for this to survive the browser round trip with the code verifier (SEP-2352). */
  discoveryState?: OAuthDiscoveryState;
  codeVerifier?: string;
}

/**
 * The SDK v2 client's OAuthClientProvider as an application writes it: everything the SDK hands it
 * goes into `saved`, and the authorization URL is recorded instead of opening a browser (the test's
 * FormBrowser plays the browser).
 */
export class SdkV2OAuthClient implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  /** Set: the SDK uses this URL as its client_id when the server supports metadata documents, instead of registering. */
  clientMetadataUrl: string | undefined;

  constructor(readonly redirectUrl: string, readonly clientMetadata: OAuthClientMetadata, readonly saved: SdkV2Saved = {}) {}

  clientInformation() {
    return this.saved.clientInformation;
  }
  saveClientInformation(information: StoredOAuthClientInformation) {
    this.saved.clientInformation = information;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.saved.codeVerifier = verifier;
  }
  codeVerifier() {
    if (!this.saved.codeVerifier) throw new Error('no code verifier saved');
    return this.saved.codeVerifier;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.saved.discoveryState = state;
  }
  discoveryState() {
    return this.saved.discoveryState;
  }
}

/**
 * The metadata an application gives the SDK: no `application_type` and no `scope` (the SDK fills
 * both in); `grant_types` with refresh_token, which is what makes the SDK ask for offline_access.
 */
export function sdkV2ClientMetadata(redirectUrl: string): OAuthClientMetadata {
  return {
    client_name: 'SDK v2 test client',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}
