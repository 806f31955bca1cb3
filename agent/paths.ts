import fs from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/** The installed package's root (where package.json and config/ are), from source or from dist/. */
export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'keepwatch') return (root = dir);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`keepwatch package root not found above ${__dirname}`);
    dir = parent;
  }
}

/** The embedded default config: it watches the machine it runs on. */
export function defaultConfigPath(): string {
  return path.join(packageRoot(), 'config', 'default.yaml');
}

/** The package version from package.json. */
export function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version;
}
