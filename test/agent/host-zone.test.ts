describe('hostTimeZone', () => {
  test('reads the zone from /etc/localtime (or TZ) without starting Intl', () => {
    jest.isolateModules(() => {
      const saved = process.env.TZ;
      process.env.TZ = 'Asia/Tokyo';
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { hostTimeZone: fresh } = require('../../agent/config/host-zone');
        expect(fresh()).toBe('Asia/Tokyo');
      } finally {
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
      }
    });
  });
});
