using System.Globalization;

namespace GpuViT.Kernels.Generator;

/// <summary>The few places where OpenCL C 1.2 and CUDA C spell the same thing differently.</summary>
internal abstract class Dialect
{
    public static readonly Dialect OpenCL = new OpenCLDialect();
    public static readonly Dialect Cuda = new CudaDialect();

    public abstract string Name { get; }

    /// <summary>A scalar C type for float, int, uint or bool.</summary>
    public abstract string Scalar(string type);

    /// <summary>A pointer to buffer elements: global memory (views) or group-shared memory.</summary>
    public abstract string Pointer(string element, bool readOnly, bool shared);

    public abstract string KernelSignature(string name, string parameters);

    /// <summary>How a buffer parameter is passed to the kernel entry point.</summary>
    public abstract string BufferParameter(string pointer, string name);

    /// <summary>A first line of the kernel body that makes the buffer's view, or null.</summary>
    public abstract string? BufferView(string pointer, string name);

    public abstract string DeviceFunctionQualifier { get; }

    public abstract string SharedDeclaration(string element, string name, int length);

    /// <summary>One coordinate of a thread index; property is a KernelThread member, dimension 0..2.</summary>
    public abstract string ThreadIndex(string property, int dimension);

    public abstract string Barrier { get; }

    /// <summary>A math intrinsic by its KernelMath name, for float or integer arguments.</summary>
    public abstract string Math(string name, bool integer);

    public abstract string FloatRemainder { get; }

    public abstract string AtomicAdd(string element, bool shared, string address, string value);

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

    private static readonly string[] Dimensions = { "x", "y", "z" };

    protected static string Dim(int dimension) => Dimensions[dimension];

    private sealed class OpenCLDialect : Dialect
    {
        public override string Name => "OpenCL C 1.2";

        public override string Scalar(string type) => type;

        public override string Pointer(string element, bool readOnly, bool shared) =>
            (shared ? "__local " : "__global ") + (readOnly ? "const " : string.Empty) + element + "*";

        public override string KernelSignature(string name, string parameters) => "__kernel void " + name + "(" + parameters + ")";

        // OpenCL 1.2 sub-buffers must start at the device's base-address alignment, so a view
        // at any element offset travels as the whole buffer plus an element offset.
        public override string BufferParameter(string pointer, string name) => pointer + " gv_" + name + ", int gv_" + name + "_offset";

        public override string? BufferView(string pointer, string name) => pointer + " " + name + " = gv_" + name + " + gv_" + name + "_offset;";

        public override string DeviceFunctionQualifier => string.Empty;

        public override string SharedDeclaration(string element, string name, int length) =>
            "__local " + element + " " + name + "[" + length.ToString(CultureInfo.InvariantCulture) + "];";

        public override string ThreadIndex(string property, int dimension)
        {
            string function = property switch
            {
                "Global" => "get_global_id",
                "Local" => "get_local_id",
                "Group" => "get_group_id",
                "GroupSize" => "get_local_size",
                "GroupCount" => "get_num_groups",
                _ => "get_global_size",
            };
            return "(int)" + function + "(" + dimension.ToString(CultureInfo.InvariantCulture) + ")";
        }

        public override string Barrier => "barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)";

        public override string Math(string name, bool integer) => name switch
        {
            "Exp" => "exp",
            "Log" => "log",
            "Sqrt" => "sqrt",
            "Rsqrt" => "rsqrt",
            "Tanh" => "tanh",
            "Erf" => "erf",
            "Pow" => "pow",
            // abs(int) returns uint in OpenCL C; the cast keeps C#'s int result.
            "Abs" => integer ? "(int)abs" : "fabs",
            "Min" => integer ? "min" : "fmin",
            "Max" => integer ? "max" : "fmax",
            "Fma" => "fma",
            "Floor" => "floor",
            _ => "ceil",
        };

        public override string FloatRemainder => "fmod";

        public override string AtomicAdd(string element, bool shared, string address, string value) =>
            element == "float"
                ? (shared ? "gv_atomic_add_local_float(" : "gv_atomic_add_global_float(") + address + ", " + value + ")"
                : "atomic_add(" + address + ", " + value + ")";

        protected override string Infinity => "INFINITY";

        protected override string NaN => "NAN";

        public override string Prelude(bool floatAtomicsGlobal, bool floatAtomicsShared)
        {
            string text = string.Empty;
            // OpenCL 1.2 has no float atomics: add by compare-and-swap on the bits.
            if (floatAtomicsGlobal)
            {
                text += FloatAtomic("global");
            }

            if (floatAtomicsShared)
            {
                text += FloatAtomic("local");
            }

            return text;
        }

        private static string FloatAtomic(string space) =>
            "float gv_atomic_add_" + space + "_float(volatile __" + space + " float* address, float value)\n" +
            "{\n" +
            "    union { uint bits; float value; } old, sum;\n" +
            "    do\n" +
            "    {\n" +
            "        old.value = *address;\n" +
            "        sum.value = old.value + value;\n" +
            "    }\n" +
            "    while (atomic_cmpxchg((volatile __" + space + " uint*)address, old.bits, sum.bits) != old.bits);\n" +
            "    return old.value;\n" +
            "}\n\n";
    }

    private sealed class CudaDialect : Dialect
    {
        public override string Name => "CUDA C";

        public override string Scalar(string type) => type == "uint" ? "unsigned int" : type;

        public override string Pointer(string element, bool readOnly, bool shared) =>
            (readOnly ? "const " : string.Empty) + element + "*";

        public override string KernelSignature(string name, string parameters) =>
            "extern \"C\" __global__ void " + name + "(" + parameters + ")";

        // A view is a device pointer already offset by the host.
        public override string BufferParameter(string pointer, string name) => pointer + " " + name;

        public override string? BufferView(string pointer, string name) => null;

        public override string DeviceFunctionQualifier => "__device__ ";

        public override string SharedDeclaration(string element, string name, int length) =>
            "__shared__ " + element + " " + name + "[" + length.ToString(CultureInfo.InvariantCulture) + "];";

        public override string ThreadIndex(string property, int dimension)
        {
            string d = Dim(dimension);
            return property switch
            {
                "Global" => "(int)(blockIdx." + d + " * blockDim." + d + " + threadIdx." + d + ")",
                "Local" => "(int)threadIdx." + d,
                "Group" => "(int)blockIdx." + d,
                "GroupSize" => "(int)blockDim." + d,
                "GroupCount" => "(int)gridDim." + d,
                _ => "(int)(gridDim." + d + " * blockDim." + d + ")",
            };
        }

        public override string Barrier => "__syncthreads()";

        public override string Math(string name, bool integer) => name switch
        {
            "Exp" => "expf",
            "Log" => "logf",
            "Sqrt" => "sqrtf",
            "Rsqrt" => "rsqrtf",
            "Tanh" => "tanhf",
            "Erf" => "erff",
            "Pow" => "powf",
            "Abs" => integer ? "abs" : "fabsf",
            "Min" => integer ? "min" : "fminf",
            "Max" => integer ? "max" : "fmaxf",
            "Fma" => "fmaf",
            "Floor" => "floorf",
            _ => "ceilf",
        };

        public override string FloatRemainder => "fmodf";

        public override string AtomicAdd(string element, bool shared, string address, string value) =>
            "atomicAdd(" + address + ", " + value + ")";

        // NVRTC has no math.h, so no INFINITY/NAN macros: build them from their bits.
        protected override string Infinity => "__int_as_float(0x7f800000)";

        protected override string NaN => "__int_as_float(0x7fffffff)";

        public override string Prelude(bool floatAtomicsGlobal, bool floatAtomicsShared) => string.Empty;
    }
}
