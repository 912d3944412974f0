// Loaded with `node --import` by scripts/test.mjs: installs ./third-party-hooks.mjs.
import { register } from 'node:module';

register('./third-party-hooks.mjs', import.meta.url);
