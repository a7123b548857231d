using System.Globalization;

namespace GpuViT.Kernels;

/// <summary>
/// A bfloat16: the top 16 bits of a <c>float</c> (sign, 8 exponent bits, 7 mantissa bits). A
/// storage type only: kernels load it with <c>(float)view[i]</c>, compute in <c>float</c> and
/// store with <c>view[i] = (BFloat16)x</c>; there is no bfloat16 arithmetic. On devices a buffer
/// of them is a buffer of 16-bit unsigned integers holding these bits.
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    /// <summary>The NaN that float-to-bfloat16 conversion makes of a float NaN whose top payload bits are clear: 0x7FC0.</summary>
    public static readonly BFloat16 NaN = new(0x7FC0);

    private BFloat16(ushort bits) => Bits = bits;

    /// <summary>The 16 bits as stored.</summary>
    public ushort Bits { get; }

    /// <summary>The bfloat16 with these bits.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>
    /// Rounds to the nearest bfloat16, ties to even; values past the largest finite bfloat16
    /// round to infinity as that rule says. A NaN stays a NaN: its sign and top payload bits are
    /// kept and it is made quiet (bit 6 set), so a payload only in the low 16 bits still reads NaN.
    /// </summary>
    public static explicit operator BFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            return new BFloat16((ushort)((bits >> 16) | 0x0040u));
        }

        // Adding 0x7FFF plus the lowest kept bit carries into the kept bits exactly when the
        // dropped half is above the midpoint, or at it with an odd kept part (ties to even).
        return new BFloat16((ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16));
    }

    /// <summary>The exact float value: the bits with 16 zero bits below.</summary>
    public static explicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.Bits << 16);

    /// <summary>Bitwise equality: the same 16 bits (so -0 and +0 differ, and a NaN equals itself).</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => left.Bits == right.Bits;

    /// <summary>Bitwise inequality.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => left.Bits != right.Bits;

    /// <summary>Bitwise equality: the same 16 bits.</summary>
    public bool Equals(BFloat16 other) => Bits == other.Bits;

    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    public override int GetHashCode() => Bits;

    /// <summary>The float value, as float prints it.</summary>
    public override string ToString() => ((float)this).ToString(CultureInfo.CurrentCulture);
}
