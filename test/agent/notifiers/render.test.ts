import { DEFAULT_TEMPLATES, render } from '../../../agent/notifiers/render';
import { sampleEvent as event } from '../../helpers/notifiers';

test('fields, values, labels, links and conditional sections', () => {
  expect(render('{{EVENT}} {{severity}}: {{check}}', event())).toBe('FIRING critical: api');
  expect(render('{{values.latencyMs}} ms for {{labels.team}}{{#tier}} at {{tier}}{{/tier}}', event())).toBe('12 ms for payments at L2');
  expect(render('{{#tier}}tier {{tier}}{{/tier}}|{{unknown}}', event({}, { tier: undefined }))).toBe('|');
  expect(render(DEFAULT_TEMPLATES.text, event())).toBe(
    '503 Service Unavailable in 12 ms (status != 200)\ntier L2\nrespond by 2026-11-27T10:13:00.000Z\nhttp://web-01:9470/api/v1/incidents/7\nhttps://grafana.example/d/kw?var-check=api',
  );
  expect(render(DEFAULT_TEMPLATES.title, event({ event: 'resolve' }))).toBe('RESOLVED critical: api');
});
