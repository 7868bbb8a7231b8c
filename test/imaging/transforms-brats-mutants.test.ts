import { describe, expect, it } from 'vitest';
import { ConvertToMultiChannelBasedOnBratsClasses } from '../../src/imaging/transforms-brats.js';

/** The regionKeys check's wording (found by mutation testing): a bad region key is named as a region key. */

describe('ConvertToMultiChannelBasedOnBratsClasses regionKeys', () => {
  it('an empty region key is refused as one of the regionKeys, by name', () => {
    expect(() => new ConvertToMultiChannelBasedOnBratsClasses({ keys: 'label', regionKeys: ['tc', '', 'et'] }))
      .toThrow('ConvertToMultiChannelBasedOnBratsClasses: regionKeys: keys must be a key or a non-empty list of keys, got ["tc","","et"]');
  });
});
