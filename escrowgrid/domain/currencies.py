"""Known ISO 4217 currency codes and their parser."""

from escrowgrid.domain.errors import ValidationError

# Active circulating currencies; funds, metals and testing codes (XAU, XTS, ...) are excluded.
_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """
ISO_CURRENCIES: frozenset[str] = frozenset(_CODES.split())


def parse_currency(value: object, field: str) -> str:
    """Return the code if it is an exact upper-case known ISO 4217 code."""
    if not isinstance(value, str):
        raise ValidationError.single(field, "must be a string")
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValidationError.single(field, "must be a 3-letter upper-case ISO 4217 code")
    if value not in ISO_CURRENCIES:
        raise ValidationError.single(field, f"unknown ISO 4217 currency code {value}")
    return value
