import { describe, expect, it } from 'vitest';
import { fragmentAt, objectFragments } from './json-fragments.js';

describe('JSON fragments', () => {
  it('splits members without parsing values', () => {
    const text = '{"a":12345678901234567890,"b":{"x":[1,{"y":"}"}]},"c":"q\\"uote","d":null, "e" : [ ] }';
    const m = objectFragments(text);
    expect([...m.keys()]).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(m.get('a')).toBe('12345678901234567890');
    expect(m.get('b')).toBe('{"x":[1,{"y":"}"}]}');
    expect(m.get('c')).toBe('"q\\"uote"');
    expect(m.get('d')).toBe('null');
    expect(m.get('e')).toBe('[ ]');
  });

  it.each([['plain'], ['with "quotes"'], ['back\\slash'], ['tab\there'], ['ünïcödé 😀']])(
    'reads the member name %j exactly',
    (name) => {
      const m = objectFragments(JSON.stringify({ [name]: 1, after: 2 }));
      expect([...m.keys()]).toEqual([name, 'after']);
    },
  );

  it('follows a path', () => {
    const text = JSON.stringify({ data: { row: { id: 1, name: 'n' } } });
    expect(fragmentAt(text, ['data', 'row'])).toBe('{"id":1,"name":"n"}');
    expect(fragmentAt(text, ['data', 'missing'])).toBeUndefined();
  });

  it('handles empty objects and rejects broken input', () => {
    expect(objectFragments('{}').size).toBe(0);
    expect(() => objectFragments('{"a":')).toThrow(SyntaxError);
    expect(() => objectFragments('[1]')).toThrow(/expected a JSON object/);
  });
});
