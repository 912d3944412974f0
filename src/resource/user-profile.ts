import type { Accounts } from '../authorization/accounts.js';
import type { GitHub } from '../authorization/upstream/github.js';
import type { UpstreamIdentities } from '../authorization/upstream/identities.js';
import { UpstreamError, UpstreamTokenRejectedError } from '../errors.js';
import type { Logger } from '../log.js';
import { z } from 'zod';

const nullableText = z.string().nullable();

/** get_user_profile's outputSchema: one object, the fields of each kind optional (clients take an object schema; a top-level union is not one). */
export const userProfileSchema = z.object({
  signedInWith: z.enum(['github', 'oidc', 'password']),
  id: z.string().describe('This server\'s user id'),
  username: z.string().optional(),
  name: nullableText.optional(),
  login: z.string().optional(),
  avatarUrl: z.string().optional(),
  profileUrl: z.string().optional(),
  publicRepos: z.number().optional(),
  followers: z.number().optional(),
  following: z.number().optional(),
  company: nullableText.optional(),
  location: nullableText.optional(),
  bio: nullableText.optional(),
  createdAt: z.string().optional(),
  issuer: z.string().optional(),
  subject: z.string().optional(),
  email: nullableText.optional(),
  emailVerified: z.boolean().optional(),
  claims: z.record(z.string(), z.unknown()).optional(),
});

export type UserProfile =
  | {
    signedInWith: 'github';
    id: string;
    login: string;
    name: string | null;
    avatarUrl: string;
    profileUrl: string;
    publicRepos: number;
    followers: number;
    following: number;
    company: string | null;
    location: string | null;
    bio: string | null;
    createdAt: string;
  }
  | {
    signedInWith: 'oidc';
    id: string;
    issuer: string;
    subject: string;
    email: string | null;
    emailVerified: boolean;
    name: string | null;
    claims: Record<string, unknown>;
  }
  | { signedInWith: 'password'; id: string; username: string; name: string };

/** A profile, or why there is none, in words for the tool's error. */
export type ProfileResult = { profile: UserProfile } | { error: string };

/**
 * get_user_profile's data, by our user id: for a GitHub user, GitHub's /user fetched now with the
 * stored GitHub token (never the MCP client's token); for an OIDC user, the claims received at
 * sign-in; for a local user, the local account.
 */
export function userProfiles(deps: { accounts: Accounts; identities: UpstreamIdentities; github: GitHub | undefined; log: Logger }) {
  return async (userId: string): Promise<ProfileResult> => {
    const user = await deps.accounts.findById(userId);
    if (!user) return { error: 'The account behind this token no longer exists.' };
    if (user.signInMethod === 'password') return { profile: { signedInWith: 'password', id: user.id, username: user.username, name: user.displayName } };
    const identity = await deps.identities.of(user.id);
    if (!identity) return { error: `The ${user.signInMethod} identity of this account is missing; sign in again.` };
    if (identity.provider === 'oidc') {
      const claims = identity.profile.claims as Record<string, unknown>;
      return {
        profile: {
          signedInWith: 'oidc',
          id: user.id,
          issuer: String(identity.profile.issuer),
          subject: String(identity.profile.subject),
          email: typeof claims.email === 'string' ? claims.email : null,
          emailVerified: claims.email_verified === true,
          name: typeof claims.name === 'string' ? claims.name : null,
          claims,
        },
      };
    }
    if (!deps.github) return { error: 'This account signs in with GitHub, which is no longer configured on this server.' };
    const tokens = deps.identities.tokensOf(identity);
    if (typeof tokens?.access_token !== 'string') {
      deps.log.warn('profile.upstream_token_unreadable', { provider: 'github', user: user.username });
      return { error: 'Your stored GitHub sign-in cannot be read (the server\'s token key changed). Sign in again: re-authenticate this MCP server in your client.' };
    }
    try {
      const github = await deps.github.user(tokens.access_token);
      return {
        profile: {
          signedInWith: 'github',
          id: user.id,
          login: github.login,
          name: github.name,
          avatarUrl: github.avatar_url,
          profileUrl: github.html_url,
          publicRepos: github.public_repos,
          followers: github.followers,
          following: github.following,
          company: github.company,
          location: github.location,
          bio: github.bio,
          createdAt: github.created_at,
        },
      };
    } catch (error) {
      if (error instanceof UpstreamTokenRejectedError) {
        deps.log.warn('profile.upstream_token_rejected', { provider: 'github', user: user.username });
        return { error: 'GitHub no longer accepts your sign-in (the GitHub token was revoked or has expired). Sign in again: re-authenticate this MCP server in your client (for example, sign out of it and connect again).' };
      }
      if (error instanceof UpstreamError) {
        deps.log.warn('profile.upstream_failed', { provider: 'github', user: user.username, reason: error.message });
        return { error: `Your GitHub profile could not be read right now: ${error.message}. Try again in a moment.` };
      }
      throw error;
    }
  };
}
