import { atMost, formatMoney, isAmount, isPositive, subtract } from './money';

describe('money', () => {
  it('formats every digit of large amounts', () => {
    expect(formatMoney('123456789012345.12345678', 'USD')).toBe('$123,456,789,012,345.12345678');
  });
  it('pads to the currency minimum', () => {
    expect(formatMoney('250000', 'USD')).toBe('$250,000.00');
    expect(formatMoney('0.1', 'EUR', 'de-DE')).toBe('0,10\u00a0€');
  });
  it('keeps digits Number would lose', () => {
    expect(formatMoney('9007199254740993', 'USD')).toBe('$9,007,199,254,740,993.00');
  });
  it('subtracts exactly', () => {
    expect(subtract('0.3', '0.1')).toBe('0.2');
    expect(subtract('1000000000000000', '0.00000001')).toBe('999999999999999.99999999');
  });
  it('compares and validates', () => {
    expect(atMost('0.30000000', '0.3')).toBe(true);
    expect(isAmount('1e5')).toBe(false);
    expect(isAmount('12.50')).toBe(true);
    expect(isPositive('0')).toBe(false);
  });
});
