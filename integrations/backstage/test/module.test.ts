import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { scaffolderActionsExtensionPoint, type TemplateAction } from '@backstage/plugin-scaffolder-node';
import scaffolderModuleGantry from '../src';

describe('the backend module', () => {
  it('registers the three actions with the scaffolder, configured from gantry.*', async () => {
    const added: TemplateAction<any, any, any>[] = [];
    const backend = await startTestBackend({
      extensionPoints: [[scaffolderActionsExtensionPoint, { addActions: (...actions: any[]) => added.push(...actions) }]],
      features: [
        scaffolderModuleGantry,
        mockServices.rootConfig.factory({ data: { gantry: { baseUrl: 'http://127.0.0.1:50051', token: 'backstage-token' } } }),
      ],
    });
    try {
      expect(added.map(action => action.id)).toEqual([
        'gantry:database:request',
        'gantry:bucket:request',
        'gantry:request:wait',
      ]);
    } finally {
      await backend.stop();
    }
  });
});
