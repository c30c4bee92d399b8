// Stand-in for a front-end library that was not installed when the binary was built
// (`npm ci` in src/apps/server/web). The page falls back to plain-text replies.
