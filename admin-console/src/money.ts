import DecimalBase from 'decimal.js';

// Amounts stay the decimal strings the API sends; arithmetic goes through decimal.js only.
// Amounts reach 10^15 with 8 places: 24 digits; the default precision (20) would round them.
const Decimal = DecimalBase.clone({ precision: 64 });
const EXACT = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

export function isAmount(text: string): boolean {
  return EXACT.test(text.trim());
}

/** Places after the point in a decimal string ("12.50" has 2). */
export function places(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** The amount in the currency's style, every digit kept (Intl formats decimal strings exactly). */
export function formatMoney(amount: string, currency: string, locale = 'en-US'): string {
  const shown = Math.max(places(amount), 2);
  const format = new Intl.NumberFormat(locale, {
    style: 'currency',
    currency,
    minimumFractionDigits: Math.min(shown, 20),
    maximumFractionDigits: Math.min(Math.max(shown, 2), 20),
  });
  return format.format(amount as Intl.StringNumericLiteral);
}

/** a - b, exact. */
export function subtract(a: string, b: string): string {
  return new Decimal(a).minus(new Decimal(b)).toFixed();
}

/** a <= b, exact. */
export function atMost(a: string, b: string): boolean {
  return new Decimal(a).lte(new Decimal(b));
}

export function isPositive(a: string): boolean {
  return isAmount(a) && new Decimal(a).gt(0);
}
