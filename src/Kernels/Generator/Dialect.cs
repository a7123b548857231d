using System.Globalization;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// The few places where OpenCL C 1.2 and CUDA C spell the same thing differently. The intrinsics'
/// spellings are in <see cref="Intrinsics"/>; a dialect picks its column and fills it in.
/// </summary>
internal abstract class Dialect
{
    public static readonly Dialect OpenCL = new OpenCLDialect();
    public static readonly Dialect Cuda = new CudaDialect();

    public abstract string Name { get; }

    /// <summary>A scalar C type for float, int, uint or bool; for the view elements half and bfloat16, the C type a buffer of them has.</summary>
    public abstract string Scalar(string type);

    /// <summary>A pointer to buffer elements: global memory (views) or group-shared memory.</summary>
    public abstract string Pointer(string element, bool readOnly, bool shared);

    public abstract string KernelSignature(string name, string parameters);

    /// <summary>How a buffer parameter is passed to the kernel entry point.</summary>
    public abstract string BufferParameter(string pointer, string name);

    /// <summary>A first line of the kernel body that makes the buffer's view, or null.</summary>
    public abstract string? BufferView(string pointer, string name);

    public abstract string DeviceFunctionQualifier { get; }

    /// <summary>
    /// A group-shared array of a kernel-language element type ("float", "int", "uint", "half",
    /// "bfloat16"); <paramref name="aligned16"/>: 16-byte aligned, for float4 access.
    /// </summary>
    public abstract string SharedDeclaration(string element, string name, int length, bool aligned16);

    /// <summary>The float value of element <paramref name="index"/> of a view of 16-bit floats ("half" or "bfloat16").</summary>
    public string Load16(string element, string view, string index) =>
        element == "half" ? LoadHalf(view, index) : "gv_bf16_to_float(" + view + "[" + index + "])";

    /// <summary>A statement (without ';') that rounds the float <paramref name="value"/> to nearest even and stores it.</summary>
    public string Store16(string element, string view, string index, string value) =>
        element == "half" ? StoreHalf(view, index, value) : view + "[" + index + "] = gv_float_to_bf16(" + value + ")";

    /// <summary>Load16 of a half: bfloat16 is the same plain C in both dialects, half is not.</summary>
    protected abstract string LoadHalf(string view, string index);

    /// <summary>Store16 of a half.</summary>
    protected abstract string StoreHalf(string view, string index, string value);

    /// <summary>The conversion functions that Load16 and Store16 call, for the element types a program uses.</summary>
    public abstract string Storage16Prelude(bool half, bool bfloat16);

    /// <summary>bfloat16 conversions in plain C: the float's top 16 bits, rounded to nearest even; NaN stays NaN (quiet).</summary>
    protected static string BFloat16Functions(string qualifier, string ushortType, string uintType, string asFloat, string asUint) =>
        "// bfloat16 is the top half of a float: widen by shifting, narrow by rounding to nearest even.\n" +
        qualifier + "float gv_bf16_to_float(" + ushortType + " bits)\n" +
        "{\n" +
        "    return " + asFloat + "((" + uintType + ")bits << 16);\n" +
        "}\n\n" +
        qualifier + ushortType + " gv_float_to_bf16(float value)\n" +
        "{\n" +
        "    " + uintType + " bits = " + asUint + "(value);\n" +
        "    if ((bits & 0x7fffffffu) > 0x7f800000u)\n" +
        "    {\n" +
        "        // NaN: keep the sign and top payload, set the quiet bit so that it stays a NaN.\n" +
        "        return (" + ushortType + ")((bits >> 16) | 0x0040u);\n" +
        "    }\n\n" +
        "    return (" + ushortType + ")((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);\n" +
        "}\n\n";

    /// <summary>An intrinsic as this dialect spells it, placeholders and all.</summary>
    public abstract string Spelling(Intrinsic intrinsic);

    /// <summary>One coordinate (dimension 0..2) of a KernelThread index or size.</summary>
    public string ThreadIndex(Intrinsic index, int dimension) =>
        "(int)" + Spelling(index).Replace(Intrinsics.Dimension, DimensionName(dimension));

    /// <summary>An atomic on the element at address; shared: the element is in group-shared memory.</summary>
    public string Atomic(Intrinsic atomic, bool shared, string address, string value) =>
        Intrinsics.InSpace(Spelling(atomic), shared) + "(" + address + ", " + value + ")";

    public abstract string FloatRemainder { get; }

    public abstract string Prelude(bool floatAtomicsGlobal, bool floatAtomicsShared);

    public string FloatLiteral(float value)
    {
        if (float.IsNaN(value))
        {
            return NaN;
        }

        if (float.IsInfinity(value))
        {
            return value > 0 ? Infinity : "(-" + Infinity + ")";
        }

        string text = value.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e");
        if (text.IndexOf('.') < 0 && text.IndexOf('e') < 0)
        {
            text += ".0";
        }

        return text + "f";
    }

    protected abstract string Infinity { get; }

    protected abstract string NaN { get; }

    /// <summary>How a thread index names dimension 0..2.</summary>
    protected abstract string DimensionName(int dimension);

    /// <summary>A float2 or float4 (width 2 or 4) made from its comma-separated components.</summary>
    public abstract string VectorConstruction(int width, string components);

    /// <summary>A float2 or float4 read from the elements at pointer + (index).</summary>
    public abstract string VectorLoad(int width, string pointer, string index);

    /// <summary>The statement expression that writes value to the elements at pointer + (index).</summary>
    public abstract string VectorStore(int width, string pointer, string index, string value);

    private sealed class OpenCLDialect : Dialect
    {
        public override string Name => "OpenCL C 1.2";

        public override string Scalar(string type) => type == "bfloat16" ? "ushort" : type;

        public override string Pointer(string element, bool readOnly, bool shared) =>
            (shared ? Spelling(Intrinsics.GroupShared) : "__global") + " " + (readOnly ? "const " : string.Empty) + element + "*";

        public override string KernelSignature(string name, string parameters) => "__kernel void " + name + "(" + parameters + ")";

        // OpenCL 1.2 sub-buffers must start at the device's base-address alignment, so a view
        // at any element offset travels as the whole buffer plus an element offset.
        public override string BufferParameter(string pointer, string name) => pointer + " gv_" + name + ", int gv_" + name + "_offset";

        public override string? BufferView(string pointer, string name) => pointer + " " + name + " = gv_" + name + " + gv_" + name + "_offset;";

        public override string DeviceFunctionQualifier => string.Empty;

        public override string Spelling(Intrinsic intrinsic) => intrinsic.OpenCL;

        public override string FloatRemainder => "fmod";

        protected override string Infinity => "INFINITY";

        protected override string NaN => "NAN";

        protected override string DimensionName(int dimension) => dimension.ToString(CultureInfo.InvariantCulture);

        public override string Prelude(bool floatAtomicsGlobal, bool floatAtomicsShared)
        {
            string text = string.Empty;
            // OpenCL 1.2 has no float atomics: add by compare-and-swap on the bits.
            if (floatAtomicsGlobal)
            {
                text += FloatAtomic(shared: false);
            }

            if (floatAtomicsShared)
            {
                text += FloatAtomic(shared: true);
            }

            return text;
        }

        // vload_half and vstore_half_rte are core OpenCL 1.2 (no cl_khr_fp16 needed); _rte rounds to nearest even.
        protected override string LoadHalf(string view, string index) => "vload_half(" + index + ", " + view + ")";

        protected override string StoreHalf(string view, string index, string value) => "vstore_half_rte(" + value + ", " + index + ", " + view + ")";

        public override string Storage16Prelude(bool half, bool bfloat16) =>
            bfloat16 ? BFloat16Functions(string.Empty, "ushort", "uint", "as_float", "as_uint") : string.Empty;

        private static string FloatAtomic(bool shared) =>
            "float " + Intrinsics.InSpace(Intrinsics.FloatAtomicAdd.OpenCL, shared) + "(volatile __" + Intrinsics.AddressSpace(shared) + " float* address, float value)\n" +
            "{\n" +
            "    union { uint bits; float value; } old, sum;\n" +
            "    do\n" +
            "    {\n" +
            "        old.value = *address;\n" +
            "        sum.value = old.value + value;\n" +
            "    }\n" +
            "    while (atomic_cmpxchg((volatile __" + Intrinsics.AddressSpace(shared) + " uint*)address, old.bits, sum.bits) != old.bits);\n" +
            "    return old.value;\n" +
            "}\n\n";

        public override string VectorConstruction(int width, string components) => "(float" + width.ToString(CultureInfo.InvariantCulture) + ")(" + components + ")";

        // vloadn/vstoren need only element alignment in OpenCL; the emulator checks CUDA's stricter rule.
        public override string VectorLoad(int width, string pointer, string index) =>
            "vload" + width.ToString(CultureInfo.InvariantCulture) + "(0, " + pointer + " + (" + index + "))";

        public override string VectorStore(int width, string pointer, string index, string value) =>
            "vstore" + width.ToString(CultureInfo.InvariantCulture) + "(" + value + ", 0, " + pointer + " + (" + index + "))";

        // OpenCL 1.2 without cl_khr_fp16 allows half only as a pointer to memory of them, not as the
        // type of an array: the array is ushort and the name a half pointer to it, for vload_half.
        public override string SharedDeclaration(string element, string name, int length, bool aligned16)
        {
            string local = Spelling(Intrinsics.GroupShared);
            string array = "[" + length.ToString(CultureInfo.InvariantCulture) + "]" + (aligned16 ? " __attribute__((aligned(16)))" : string.Empty);
            return element == "half"
                ? local + " ushort gv_" + name + array + ";\n    " + local + " half* " + name + " = (" + local + " half*)gv_" + name + ";"
                : local + " " + Scalar(element) + " " + name + array + ";";
        }
    }

    private sealed class CudaDialect : Dialect
    {
        public override string Name => "CUDA C";

        public override string Scalar(string type) => type switch
        {
            "uint" => "unsigned int",
            "half" or "bfloat16" => "unsigned short",
            _ => type,
        };

        public override string Pointer(string element, bool readOnly, bool shared) =>
            (readOnly ? "const " : string.Empty) + element + "*";

        public override string KernelSignature(string name, string parameters) =>
            "extern \"C\" __global__ void " + name + "(" + parameters + ")";

        // A view is a device pointer already offset by the host.
        public override string BufferParameter(string pointer, string name) => pointer + " " + name;

        public override string? BufferView(string pointer, string name) => null;

        public override string DeviceFunctionQualifier => "__device__ ";

        public override string Spelling(Intrinsic intrinsic) => intrinsic.Cuda;

        public override string FloatRemainder => "fmodf";

        // NVRTC has no math.h, so no INFINITY/NAN macros: build them from their bits.
        protected override string Infinity => "__int_as_float(0x7f800000)";

        protected override string NaN => "__int_as_float(0x7fffffff)";

        protected override string DimensionName(int dimension) => "xyz".Substring(dimension, 1);

        public override string Prelude(bool floatAtomicsGlobal, bool floatAtomicsShared) => string.Empty;

        public override string VectorConstruction(int width, string components) => "make_float" + width.ToString(CultureInfo.InvariantCulture) + "(" + components + ")";

        // One 8- or 16-byte access, which needs the address aligned to its size.
        public override string VectorLoad(int width, string pointer, string index) =>
            "*(const float" + width.ToString(CultureInfo.InvariantCulture) + "*)(" + pointer + " + (" + index + "))";

        public override string VectorStore(int width, string pointer, string index, string value) =>
            "*(float" + width.ToString(CultureInfo.InvariantCulture) + "*)(" + pointer + " + (" + index + ")) = " + value;

        public override string SharedDeclaration(string element, string name, int length, bool aligned16) =>
            Spelling(Intrinsics.GroupShared) + (aligned16 ? " __align__(16) " : " ") + Scalar(element) + " " + name + "[" + length.ToString(CultureInfo.InvariantCulture) + "];";

        protected override string LoadHalf(string view, string index) => "gv_half_to_float(" + view + "[" + index + "])";

        protected override string StoreHalf(string view, string index, string value) => view + "[" + index + "] = gv_float_to_half(" + value + ")";

        public override string Storage16Prelude(bool half, bool bfloat16) =>
            (half ? HalfFunctions : string.Empty)
            + (bfloat16 ? BFloat16Functions("__device__ ", "unsigned short", "unsigned int", "__uint_as_float", "__float_as_uint") : string.Empty);

        // NVRTC here has no cuda_fp16.h: PTX's own conversions (every architecture), round to nearest even.
        private const string HalfFunctions =
            "__device__ float gv_half_to_float(unsigned short bits)\n" +
            "{\n" +
            "    float value;\n" +
            "    asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(value) : \"h\"(bits));\n" +
            "    return value;\n" +
            "}\n\n" +
            "__device__ unsigned short gv_float_to_half(float value)\n" +
            "{\n" +
            "    unsigned short bits;\n" +
            "    asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(bits) : \"f\"(value));\n" +
            "    return bits;\n" +
            "}\n\n";
    }
}
