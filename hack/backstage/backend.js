// The smallest Backstage backend that shows what a developer's portal shows of Berth: the
// software catalog (which reads Berth's catalog location) and the Kubernetes plugin
// (which reads the cluster). Plain JavaScript, no build step; its packages come from the
// cache hack/backstage.sh fills (found through NODE_PATH), its settings from the
// app-config files given with --config.
'use strict';

const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.add(require('@backstage/plugin-kubernetes-backend'));
backend.start().catch(error => {
  // A plugin that cannot start (bad config, no database) must end the process, not
  // leave a half-started backend behind a port.
  console.error(error);
  process.exit(1);
});
