import type { GitHubSettings, OidcSettings } from '../../config.js';

/** Why someone may not sign in, in words for the page (who, and what rule). */
export type Refusal = { allowed: false; who: string; reason: string } | { allowed: true };

/** GitHub: allowed by login, or by membership of an allowed organisation; no lists means everyone. */
export function githubVerdict(settings: Pick<GitHubSettings, 'allowedUsers' | 'allowedOrgs'>, login: string, organizations: string[] | undefined): Refusal {
  const { allowedUsers, allowedOrgs } = settings;
  if (allowedUsers.length === 0 && allowedOrgs.length === 0) return { allowed: true };
  if (allowedUsers.includes(login.toLowerCase())) return { allowed: true };
  if (organizations?.some((org) => allowedOrgs.includes(org.toLowerCase()))) return { allowed: true };
  const rules = [
    allowedUsers.length > 0 ? 'is not one of the GitHub accounts allowed' : undefined,
    allowedOrgs.length > 0 ? `is not a member of ${allowedOrgs.length === 1 ? 'the organisation' : 'any of the organisations'} ${allowedOrgs.join(', ')}` : undefined,
  ].filter(Boolean);
  // A whole sentence: the page reads "{who} may not sign in to this server: {reason}".
  return { allowed: false, who: `GitHub user ${login}`, reason: `${login} ${rules.join(' and ')}.` };
}

/** OIDC: a verified e-mail in an allowed domain, and the required claim; each only when configured. */
export function oidcVerdict(settings: Pick<OidcSettings, 'allowedEmailDomains' | 'requiredClaim' | 'name'>, claims: Record<string, unknown>): Refusal {
  const email = typeof claims.email === 'string' ? claims.email : undefined;
  const who = `${email ?? (typeof claims.sub === 'string' ? claims.sub : 'this account')} (${settings.name})`;
  if (settings.allowedEmailDomains.length > 0) {
    const domain = email?.slice(email.lastIndexOf('@') + 1).toLowerCase();
    if (!email || !domain) return { allowed: false, who, reason: `the provider gave no e-mail address; only addresses at ${settings.allowedEmailDomains.join(', ')} may sign in.` };
    if (claims.email_verified !== true) return { allowed: false, who, reason: 'the provider has not verified this e-mail address.' };
    if (!settings.allowedEmailDomains.includes(domain)) return { allowed: false, who, reason: `only e-mail addresses at ${settings.allowedEmailDomains.join(', ')} may sign in.` };
  }
  const required = settings.requiredClaim;
  if (required) {
    const value = claims[required.name];
    const matches = Array.isArray(value) ? value.some((item) => String(item) === required.value) : value !== undefined && value !== null && String(value) === required.value;
    if (!matches) return { allowed: false, who, reason: `the account's "${required.name}" does not include "${required.value}".` };
  }
  return { allowed: true };
}
