import { describe, expect, it } from '@jest/globals';
import { html, raw } from '../src/html.ts';

describe('html', () => {
  it('escapes every interpolated value that is not html itself', () => {
    const cause = '<img src=x onerror="alert(1)"> & \'quoted\'';
    expect(html`<p title="${cause}">${cause}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#39;quoted&#39;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#39;quoted&#39;</p>',
    );
  });

  it('keeps nested html and raw markup, joins arrays, and renders nothing for null, undefined and false', () => {
    const items = ['a<', 'b'].map((item) => html`<li>${item}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${raw('<br>')}${0}`.value).toBe(
      '<ul><li>a&lt;</li><li>b</li></ul><br>0',
    );
  });
});
