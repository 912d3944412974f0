import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from './paths.js';

/** The version in package.json: what the MCP server reports as its own. */
export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8')) as { version: string }).version;
