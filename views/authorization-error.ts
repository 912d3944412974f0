import type { DocumentProblem } from '../src/authorization/client-metadata-documents.js';
import { errorPage } from './error.js';

/**
 * Why a metadata document could not be used, as the page says it: fixed words per category. The
 * details (addresses a name resolved to, DNS and connection error codes) would let anyone map the
 * server's network from this page, so they go to the log only.
 */
const DOCUMENT_PROBLEMS: Record<Exclude<DocumentProblem['kind'], 'status'>, string> = {
  'address not allowed': 'the document\'s address is not allowed',
  unreachable: 'the document could not be reached',
  timeout: 'the document did not arrive in time',
  redirect: 'its address answered with a redirect, which is not followed',
  'invalid answer': 'its server did not answer with valid HTTP',
  'not JSON': 'the document is not JSON',
  'too large': 'the document is too large',
  unreadable: 'the document could not be read',
};

function problemWords(problem: DocumentProblem): string {
  return problem.kind === 'status' ? `its address answered HTTP ${problem.status}` : DOCUMENT_PROBLEMS[problem.kind];
}

/** The page for an authorization request that cannot go back to its client (unknown client, bad redirect URI). */
export function authorizationErrorPage(out: { error?: unknown; error_description?: unknown }, problem: DocumentProblem | undefined): string {
  const description = String(out.error_description ?? out.error);
  return errorPage(
    'This sign-in request cannot continue',
    problem ? `${description}: ${problemWords(problem)}` : description,
    `Error code: ${String(out.error)}. Go back to your application and try again.`,
  );
}
