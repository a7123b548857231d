using GpuViT.Tests.Runtime;
using Library = GpuViT.Kernels.Generated.KernelCatalog;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// Half and BFloat16 storage: the conversions, bit-exact against a reference that rounds by
/// comparing distances in double; the conversion kernels on every backend that runs kernels,
/// bit-exact against the C# conversions; 16-bit device buffers on every backend.
/// </summary>
public sealed class Storage16Tests(TestDevices devices) : IClassFixture<TestDevices>
{
    private const int HalfInfinity = 0x7C00;
    private const int BFloat16Infinity = 0x7F80;

    public static TheoryData<string> AllBackends => new(TestBackends.All);

    // ---- the C# conversions against the reference -------------------------------------------

    [Fact]
    public void Every_bfloat16_widens_to_its_exact_float_value()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float value = (float)BFloat16.FromBits((ushort)bits);
            if (IsNaN(bits, BFloat16Infinity))
            {
                Assert.True(float.IsNaN(value), $"0x{bits:X4}");
                Assert.Equal((uint)bits << 16, BitConverter.SingleToUInt32Bits(value));
            }
            else
            {
                Assert.Equal(Widened(bits, BFloat16Infinity), (double)value);
            }
        }
    }

    [Fact]
    public void Every_half_widens_to_its_exact_float_value()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float value = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            if (IsNaN(bits, HalfInfinity))
            {
                Assert.True(float.IsNaN(value), $"0x{bits:X4}");
            }
            else
            {
                Assert.Equal(Widened(bits, HalfInfinity), (double)value);
            }
        }
    }

    [Fact]
    public void Float_to_bfloat16_rounds_to_nearest_even_as_the_reference_does()
    {
        float[] values = BFloat16Inputs();
        foreach (float value in values)
        {
            ushort bits = ((BFloat16)value).Bits;
            if (float.IsNaN(value))
            {
                Assert.True(IsNaN(bits, BFloat16Infinity), $"NaN 0x{BitConverter.SingleToUInt32Bits(value):X8} became 0x{bits:X4}");
            }
            else
            {
                Assert.True(Reference(value, BFloat16Infinity) == bits, $"{value:R} (0x{BitConverter.SingleToUInt32Bits(value):X8}) became 0x{bits:X4}, not 0x{Reference(value, BFloat16Infinity):X4}");
            }
        }
    }

    [Fact]
    public void Float_to_half_in_dotnet_agrees_with_the_reference()
    {
        foreach (float value in HalfInputs())
        {
            ushort bits = BitConverter.HalfToUInt16Bits((Half)value);
            if (!float.IsNaN(value))
            {
                Assert.True(Reference(value, HalfInfinity) == bits, $"{value:R} became 0x{bits:X4}, not 0x{Reference(value, HalfInfinity):X4}");
            }
        }
    }

    [Fact]
    public void The_edge_cases_round_as_IEEE_754_says()
    {
        // Ties go to the even neighbour; the largest finite value and what lies past it.
        Assert.Equal(0x3F80, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F808000)).Bits); // tie, 0x3F80 is even
        Assert.Equal(0x3F82, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F818000)).Bits); // tie, 0x3F81 is odd
        Assert.Equal(0x3F81, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F808001)).Bits);
        Assert.Equal(0x7F7F, ((BFloat16)BitConverter.UInt32BitsToSingle(0x7F7F7FFF)).Bits); // just below the midpoint to 2^128
        Assert.Equal(0x7F80, ((BFloat16)float.MaxValue).Bits); // above it: infinity
        Assert.Equal(0xFF80, ((BFloat16)float.MinValue).Bits);
        Assert.Equal(0x8000, ((BFloat16)(-0f)).Bits);
        Assert.Equal(0x0001, ((BFloat16)BitConverter.UInt32BitsToSingle(0x00010000)).Bits); // subnormal
        Assert.Equal(0x0000, ((BFloat16)float.Epsilon).Bits);
        Assert.Equal(0x7FC0, ((BFloat16)float.NaN).Bits & 0x7FFF);
        Assert.Equal(0x7FC0, ((BFloat16)BitConverter.UInt32BitsToSingle(0x7F800001)).Bits); // payload only in the low bits: still NaN
        Assert.Equal(0xFFE0, ((BFloat16)BitConverter.UInt32BitsToSingle(0xFFA00000)).Bits); // signalling: made quiet, sign and payload kept
        Assert.Equal(BitConverter.HalfToUInt16Bits(Half.PositiveInfinity), BitConverter.HalfToUInt16Bits((Half)65520f)); // tie past 65504
        Assert.Equal(BitConverter.HalfToUInt16Bits(Half.MaxValue), BitConverter.HalfToUInt16Bits((Half)65519.996f));
    }

    [Fact]
    public void BFloat16_equality_and_text_are_of_the_bits()
    {
        Assert.Equal(BFloat16.FromBits(0x3F80), (BFloat16)1f);
        Assert.True((BFloat16)1f == BFloat16.FromBits(0x3F80));
        Assert.True((BFloat16)0f != (BFloat16)(-0f));
        Assert.Equal(BFloat16.NaN, BFloat16.NaN);
        Assert.Equal(((BFloat16)1.5f).GetHashCode(), ((BFloat16)1.5f).GetHashCode());
        Assert.Equal(1.5f.ToString(), ((BFloat16)1.5f).ToString());
    }

    // ---- the kernels, on every backend that runs kernels ------------------------------------

    [Theory]
    [KernelBackendData]
    public void HalfToFloat_widens_every_half_exactly(string backend)
    {
        Half[] halves = Enumerable.Range(0, 65536).Select(b => BitConverter.UInt16BitsToHalf((ushort)b)).ToArray();
        var floats = new float[halves.Length];
        devices.Launch(backend, Library.WidenHalf, Int3.Size(TestDevices.Groups(halves.Length, 256)), Int3.Size(256), halves, floats, halves.Length);

        for (int b = 0; b < halves.Length; b++)
        {
            if (Half.IsNaN(halves[b]))
            {
                Assert.True(float.IsNaN(floats[b]), $"{backend}: half 0x{b:X4}");
            }
            else
            {
                Assert.True(BitConverter.SingleToUInt32Bits((float)halves[b]) == BitConverter.SingleToUInt32Bits(floats[b]), $"{backend}: half 0x{b:X4} became {floats[b]:R}");
            }
        }
    }

    [Theory]
    [KernelBackendData]
    public void FloatToHalf_rounds_as_dotnet_does(string backend)
    {
        float[] values = HalfInputs();
        var halves = new Half[values.Length];
        devices.Launch(backend, Library.RoundToHalf, Int3.Size(TestDevices.Groups(values.Length, 256)), Int3.Size(256), values, halves, values.Length);

        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
            {
                Assert.True(Half.IsNaN(halves[i]), $"{backend}: NaN 0x{BitConverter.SingleToUInt32Bits(values[i]):X8}");
            }
            else
            {
                ushort expected = BitConverter.HalfToUInt16Bits((Half)values[i]), got = BitConverter.HalfToUInt16Bits(halves[i]);
                Assert.True(expected == got, $"{backend}: {values[i]:R} became 0x{got:X4}, not 0x{expected:X4}");
            }
        }
    }

    [Theory]
    [KernelBackendData]
    public void BFloat16ToFloat_widens_every_bfloat16_exactly(string backend)
    {
        BFloat16[] bfloats = Enumerable.Range(0, 65536).Select(b => BFloat16.FromBits((ushort)b)).ToArray();
        var floats = new float[bfloats.Length];
        devices.Launch(backend, Library.WidenBf16, Int3.Size(TestDevices.Groups(bfloats.Length, 256)), Int3.Size(256), bfloats, floats, bfloats.Length);

        for (int b = 0; b < bfloats.Length; b++)
        {
            Assert.True((uint)b << 16 == BitConverter.SingleToUInt32Bits(floats[b]), $"{backend}: bfloat16 0x{b:X4} became 0x{BitConverter.SingleToUInt32Bits(floats[b]):X8}");
        }
    }

    [Theory]
    [KernelBackendData]
    public void FloatToBFloat16_rounds_bit_for_bit_as_the_CSharp_conversion(string backend)
    {
        float[] values = BFloat16Inputs();
        var bfloats = new BFloat16[values.Length];
        devices.Launch(backend, Library.RoundToBf16, Int3.Size(TestDevices.Groups(values.Length, 256)), Int3.Size(256), values, bfloats, values.Length);

        for (int i = 0; i < values.Length; i++)
        {
            // NaNs too: the device function and the C# operator are the same bit arithmetic.
            ushort expected = ((BFloat16)values[i]).Bits;
            Assert.True(expected == bfloats[i].Bits, $"{backend}: {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8}) became 0x{bfloats[i].Bits:X4}, not 0x{expected:X4}");
        }
    }

    [Theory]
    [KernelBackendData(200)]
    [KernelBackendData(64)]
    public void ReverseThroughShared_matches_the_CSharp_reference(string backend, int n)
    {
        const int Group = Storage16Kernels.ReverseGroup;
        Half[] input = TestData.Random(n, 21, -70000f, 70000f).Select(v => (Half)v).ToArray();
        input[0] = Half.MaxValue;
        input[1] = BitConverter.UInt16BitsToHalf(0x0001); // the smallest subnormal
        var output = new BFloat16[n];
        var copy = new Half[n];
        devices.Launch(backend, T.ReverseThroughShared, Int3.Size(TestDevices.Groups(n, Group)), Int3.Size(Group), input, output, copy, n);

        for (int i = 0; i < n; i++)
        {
            int mirror = i / Group * Group + Group - 1 - i % Group;
            float v = mirror < n ? (float)input[mirror] : 0f;
            var expected = (BFloat16)((float)(Half)v + (float)(BFloat16)(v * 3f));
            Assert.True(expected == output[i], $"{backend}: output[{i}] is 0x{output[i].Bits:X4}, not 0x{expected.Bits:X4}");
            Assert.Equal(BitConverter.HalfToUInt16Bits(input[i]), BitConverter.HalfToUInt16Bits(copy[i]));
        }
    }

    [Fact]
    public void Shared_16_bit_arrays_start_as_NaN_in_the_emulator()
    {
        var kernel = new KernelDescriptor(
            "ReadBeforeWrite", "Storage16Tests", [new KernelParameter("output", ParameterKind.Buffer, ElementType.Float, BufferAccess.ReadWrite)],
            0, false, string.Empty, string.Empty, (thread, arguments) =>
            {
                SharedArray<Half> halves = Group.Shared<Half>(4);
                SharedArray<BFloat16> bfloats = Group.Shared<BFloat16>(4);
                var output = (ReadWriteView<float>)arguments[0];
                output[0] = (float)halves[thread.Local.X];
                output[1] = (float)bfloats[thread.Local.X];
            });
        var output = new float[2];

        KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(1), output);

        Assert.True(float.IsNaN(output[0]));
        Assert.Equal(0x7FC00000u, BitConverter.SingleToUInt32Bits(output[1]));
    }

    // ---- device buffers ---------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(AllBackends))]
    public void Half_and_BFloat16_buffers_round_trip_every_bit_pattern(string backend)
    {
        Device device = devices.Device(backend);
        Half[] halves = Enumerable.Range(0, 65536).Select(b => BitConverter.UInt16BitsToHalf((ushort)b)).ToArray();
        BFloat16[] bfloats = Enumerable.Range(0, 65536).Select(b => BFloat16.FromBits((ushort)(b * 40503))).ToArray();

        using DeviceBuffer<Half> halfBuffer = device.Upload<Half>(halves);
        using DeviceBuffer<BFloat16> bfloatBuffer = device.Upload<BFloat16>(bfloats);

        Assert.Equal(2, halfBuffer.ElementSize);
        Assert.Equal(2L * 65536, bfloatBuffer.Bytes);
        Assert.Equal(ElementType.Half, halfBuffer.ElementType);
        Assert.Equal(ElementType.BFloat16, bfloatBuffer.ElementType);
        Assert.Equal(halves.Select(BitConverter.HalfToUInt16Bits), halfBuffer.ToArray().Select(BitConverter.HalfToUInt16Bits));
        Assert.Equal(bfloats, bfloatBuffer.ToArray());

        // At an odd element offset: offsets count 2-byte elements.
        bfloatBuffer.Upload([BFloat16.FromBits(0xABCD), BFloat16.FromBits(0x1234)], offset: 7);
        var window = new BFloat16[4];
        bfloatBuffer.Download(window, offset: 6);
        Assert.Equal([bfloats[6], BFloat16.FromBits(0xABCD), BFloat16.FromBits(0x1234), bfloats[9]], window);
    }

    [Theory]
    [KernelDeviceData]
    [InlineData(TestBackends.Emulator)]
    public void Kernels_see_16_bit_views_at_any_element_offset(string backend)
    {
        Device device = devices.Device(backend);
        Half[] halves = Enumerable.Range(0, 16).Select(i => (Half)(i * 0.5f)).ToArray();
        using DeviceBuffer<Half> input = device.Upload<Half>(halves);
        using DeviceBuffer<float> widened = device.Upload<float>(new float[16]);
        using DeviceBuffer<BFloat16> narrowed = device.Upload<BFloat16>(new BFloat16[16]);

        device.Launch(Library.WidenHalf, Int3.Size(1), Int3.Size(8), input.View(3, 5), widened.View(1, 5), 5);
        device.Launch(Library.RoundToBf16, Int3.Size(1), Int3.Size(8), widened.View(1, 5), narrowed.View(9, 5), 5);

        float[] expected = [0f, 1.5f, 2f, 2.5f, 3f, 3.5f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f];
        Assert.Equal(expected, widened.ToArray());
        Assert.Equal(new float[9].Concat(expected[1..6]).Concat(new float[2]), narrowed.ToArray().Select(b => (float)b));
    }

    [Fact]
    public void A_16_bit_view_of_the_wrong_element_type_is_refused()
    {
        Device device = devices.Device(TestBackends.Emulator);
        using DeviceBuffer<BFloat16> bfloats = device.Upload<BFloat16>(new BFloat16[4]);
        using DeviceBuffer<float> floats = device.Upload<float>(new float[4]);

        var error = Assert.Throws<ArgumentException>(() => device.Launch(Library.WidenHalf, Int3.Size(1), Int3.Size(4), bfloats, floats, 4));

        Assert.Contains("ReadOnlyView<Half> source", error.Message);
        Assert.Contains("expects a Half buffer", error.Message);
    }

    // ---- inputs and the reference -----------------------------------------------------------

    /// <summary>Every half's value, every midpoint between neighbours and the floats either side, specials, random bit patterns.</summary>
    private static float[] HalfInputs() => Inputs(HalfInfinity, seed: 1);

    private static float[] BFloat16Inputs() => Inputs(BFloat16Infinity, seed: 2);

    private static float[] Inputs(int infinity, int seed)
    {
        var values = new List<float>();
        for (int bits = 0; bits < infinity; bits++)
        {
            double low = ExactValue(bits, infinity), high = ExactValue(bits + 1, infinity);
            var midpoint = (float)((low + high) / 2);
            foreach (float v in new[] { (float)low, midpoint, MathF.BitDecrement(midpoint), MathF.BitIncrement(midpoint) })
            {
                if (!float.IsInfinity(v))
                {
                    values.Add(v);
                    values.Add(-v);
                }
            }
        }

        values.AddRange([
            0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon,
            1e-40f, -1e-40f, float.NaN, -float.NaN,
            BitConverter.UInt32BitsToSingle(0x7F800001), BitConverter.UInt32BitsToSingle(0x7FA00000), BitConverter.UInt32BitsToSingle(0xFFC00001),
        ]);
        var random = new Random(seed);
        for (int i = 0; i < 100_000; i++)
        {
            values.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
        }

        return values.ToArray();
    }

    private static bool IsNaN(int bits, int infinity) => (bits & 0x7FFF) > infinity;

    /// <summary>The float value of a non-NaN 16-bit pattern: <see cref="ExactValue"/>, with infinity for infinity.</summary>
    private static double Widened(int bits, int infinity) =>
        (bits & 0x7FFF) == infinity ? ((bits & 0x8000) != 0 ? double.NegativeInfinity : double.PositiveInfinity) : ExactValue(bits, infinity);

    /// <summary>
    /// The value of a 16-bit pattern, from its fields: 1 sign bit, then 5 exponent bits and 10
    /// mantissa bits (half, infinity 0x7C00) or 8 and 7 (bfloat16, 0x7F80). The magnitude
    /// pattern of infinity gives the first power of two past the largest finite value, which is
    /// what rounding measures distances to.
    /// </summary>
    private static double ExactValue(int bits, int infinity)
    {
        int mantissaBits = infinity == HalfInfinity ? 10 : 7;
        int bias = infinity == HalfInfinity ? 15 : 127;
        int exponent = (bits & 0x7FFF) >> mantissaBits, mantissa = bits & ((1 << mantissaBits) - 1);
        double magnitude = exponent == 0
            ? mantissa * Math.Pow(2, 1 - bias - mantissaBits)
            : ((1 << mantissaBits) + mantissa) * Math.Pow(2, exponent - bias - mantissaBits);
        return (bits & 0x8000) != 0 ? -magnitude : magnitude;
    }

    /// <summary>
    /// The 16-bit pattern nearest to a non-NaN float, ties to the even pattern, found by binary
    /// search over the magnitudes and a comparison of distances in double (exact here).
    /// </summary>
    private static ushort Reference(float value, int infinity)
    {
        int sign = BitConverter.SingleToUInt32Bits(value) >> 31 == 1 ? 0x8000 : 0;
        if (float.IsInfinity(value))
        {
            return (ushort)(sign | infinity);
        }

        double magnitude = Math.Abs((double)value);
        int low = 0, high = infinity; // ExactValue(low) <= magnitude < ExactValue(high + 1) once the search ends
        while (low < high)
        {
            int middle = (low + high + 1) / 2;
            if (ExactValue(middle, infinity) <= magnitude)
            {
                low = middle;
            }
            else
            {
                high = middle - 1;
            }
        }

        int nearest = low;
        if (low < infinity && ExactValue(low, infinity) != magnitude)
        {
            double below = magnitude - ExactValue(low, infinity), above = ExactValue(low + 1, infinity) - magnitude;
            nearest = below < above || (below == above && low % 2 == 0) ? low : low + 1;
        }

        return (ushort)(sign | nearest);
    }
}
