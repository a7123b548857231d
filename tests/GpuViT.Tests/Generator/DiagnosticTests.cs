using System.Reflection;
using GpuViT.Kernels.Generator;
using Microsoft.CodeAnalysis;
using static GpuViT.Tests.Generator.GeneratorHarness;

namespace GpuViT.Tests.Generator;

/// <summary>Every GV diagnostic: the construct that triggers it, its id, and the exact location.</summary>
public class DiagnosticTests
{
    /// <summary>(id, source, the text the diagnostic must point at).</summary>
    public static TheoryData<string, string, string> Cases => new()
    {
        // GV0001 kernel signature
        { "GV0001", Kernel("", members: "[Kernel] public static int Returns(KernelThread t) => 0;"), "Returns" },
        { "GV0001", "using GpuViT.Kernels; public class S { [Kernel] public void Instance(KernelThread t) { } }", "Instance" },
        { "GV0001", "using GpuViT.Kernels; public static class S { [Kernel] private static void Hidden(KernelThread t) { } }", "Hidden" },
        { "GV0001", "using GpuViT.Kernels; public static class S { [Kernel] public static void Generic<T>(KernelThread t) { } }", "Generic" },

        // GV0002 the KernelThread parameter
        { "GV0002", "using GpuViT.Kernels; public static class S { [Kernel] public static void NoThread(int n) { } }", "n" },
        { "GV0002", "using GpuViT.Kernels; public static class S { [Kernel] public static void Late(int n, KernelThread t) { } }", "n" },

        // GV0003 parameters
        { "GV0003", Kernel("", parameters: "double scale"), "scale" },
        { "GV0003", Kernel("", parameters: "float[] data"), "data" },
        { "GV0003", Kernel("", parameters: "ref float x"), "x" },
        { "GV0003", Kernel("", parameters: "ReadOnlyView<double> x"), "x" },

        // GV0004 types
        { "GV0004", Kernel("b[i] = (float)(a[i] * 0.5);"), "a[i] * 0.5" },
        { "GV0004", Kernel("uint u = 1u; var mixed = i + u;"), "i + u" },
        { "GV0004", Kernel("b[i] = (float)(double)a[i];"), "double" },

        // GV0005 allocation
        { "GV0005", Kernel("var scratch = new float[4];"), "new float[4]" },
        { "GV0005", Kernel("var thing = new object();"), "new object()" },
        { "GV0005", Kernel("b[i] = First(stackalloc float[4]);", members: "[DeviceFunction] public static float First(Span<float> s) => s[0];"), "stackalloc float[4]" },

        // GV0006 strings
        { "GV0006", Kernel("string name = \"x\";"), "\"x\"" },
        { "GV0006", Kernel("var text = $\"{i}\";"), "$\"{i}\"" },

        // GV0007 exceptions
        { "GV0007", Kernel("if (n < 0) throw new InvalidOperationException();"), "throw new InvalidOperationException();" },
        { "GV0007", Kernel("try { b[i] = 1f; } catch { }"), "try { b[i] = 1f; } catch { }" },

        // GV0008 LINQ, lambdas, local functions
        { "GV0008", Kernel("int total = Enumerable.Range(0, n).Sum();"), "Enumerable.Range(0, n).Sum()" },
        { "GV0008", Kernel("Func<float, float> twice = x => 2f * x;"), "x => 2f * x" },
        { "GV0008", Kernel("float Twice(float x) => 2f * x;"), "Twice" },

        // GV0009 instance members
        { "GV0009", Kernel("int h = n.GetHashCode();"), "n.GetHashCode" },

        // GV0010 recursion
        {
            "GV0010",
            Kernel(
                "b[i] = Down(a[i]);",
                members: "[DeviceFunction] public static float Down(float x) => x < 1f ? x : Down(x - 1f);"),
            "Down"
        },

        // GV0011 captured state
        { "GV0011", Kernel("b[i] = a[i] * Scale;", members: "public static float Scale = 2f;"), "Scale" },
        { "GV0011", Kernel("b[i] = Table[0];", members: "private static readonly float[] Table = { 1f };"), "Table" },

        // GV0012 unsupported calls and members
        { "GV0012", Kernel("b[i] = MathF.Exp(a[i]);"), "MathF.Exp" },
        { "GV0012", Kernel("b[i] = Helper(a[i]);", members: "public static float Helper(float x) => x;"), "Helper" },
        { "GV0012", Kernel("int length = a.Length;"), "a.Length" },

        // GV0013 statements
        { "GV0013", Kernel("switch (n) { case 0: break; }"), "switch (n) { case 0: break; }" },
        { "GV0013", Kernel("lock (Gate) { }", members: "private static readonly object Gate = new();"), "lock (Gate) { }" },
        { "GV0013", Kernel("start: goto start;"), "start: goto start;" },

        // GV0014 expressions
        { "GV0014", Kernel("b[i] = n is 0 ? 1f : 0f;"), "n is 0" },
        { "GV0014", Kernel("int z = default;"), "default" },
        { "GV0014", Kernel("b[i] = checked(n + 1);"), "checked(n + 1)" },

        // GV0015 shared arrays
        { "GV0015", Kernel("var tile = Group.Shared<float>(n);"), "Group.Shared<float>(n)" },
        { "GV0015", Kernel("if (n > 0) { var tile = Group.Shared<float>(16); }"), "Group.Shared<float>(16)" },
        { "GV0015", Kernel("var flags = Group.Shared<bool>(16);"), "Group.Shared<bool>(16)" },

        // GV0016 duplicate names
        {
            "GV0016",
            "using GpuViT.Kernels; public static class A { [Kernel] public static void Twin(KernelThread t) { } } "
                + "public static class B { [Kernel] public static void Twin(KernelThread t) { } }",
            "Twin"
        },

        // GV0017 atomic targets
        { "GV0017", Kernel("int count = 0; Atomic.Add(ref count, 1);"), "ref count" },

        // GV0018 KernelThread used as a value
        { "GV0018", Kernel("var where = thread.Global;"), "thread.Global" },
        { "GV0018", Kernel("bool same = thread.Local == thread.Group;"), "thread.Local == thread.Group" },
        { "GV0003", Kernel("", members: "[DeviceFunction] public static float Pass(KernelThread t) => 0f;"), "t" },

        // GV0019 device function signatures
        { "GV0019", "using GpuViT.Kernels; public class S { [DeviceFunction] public float Twice(float x) => 2f * x; }", "Twice" },
        { "GV0019", "using GpuViT.Kernels; public static class S { [DeviceFunction] public static double Wide(float x) => x; }", "Wide" },

        // GV0020 barrier inside an expression
        { "GV0020", Kernel("for (int k = 0; k < n; k++, Group.Barrier()) { }"), "Group.Barrier()" },

        // GV0021 a member of an intrinsic class that the intrinsic table lacks
        { "GV0021", Kernel("b[i] = KernelMath.Sin(a[i]);") + IntrinsicTableTests.KernelMathWithSin, "KernelMath.Sin" },
        { "GV0021", Kernel("b[i] = (float)thread.Quad.X;") + IntrinsicTableTests.KernelThreadWithQuad, "thread.Quad" },

        // GV0022 register arrays
        { "GV0022", Kernel("Span<float> s = stackalloc float[n];"), "n" },
        { "GV0022", Kernel("Span<float> s = stackalloc float[2000];"), "2000" },
        { "GV0022", Kernel("Span<float> s = stackalloc float[] { 1f, 2f };"), "stackalloc float[] { 1f, 2f }" },
        { "GV0022", Kernel("Span<bool> s = stackalloc bool[4];"), "s = stackalloc bool[4]" },
        { "GV0022", Kernel("Span<float> s = stackalloc float[4]; int l = s.Length;"), "s.Length" },
        { "GV0022", Kernel("Span<float> s = stackalloc float[4]; b[i] = s.Slice(1)[0];"), "s.Slice(1)" },
        { "GV0022", Kernel("Span<float> s = stackalloc float[4]; Span<float> t = s;"), "t = s" },
        { "GV0022", Kernel("Span<float> s = stackalloc float[4]; s = stackalloc float[8];"), "s = stackalloc float[8]" },
        { "GV0003", Kernel("", parameters: "Span<float> s"), "s" },
        // GV0023 vector access
        { "GV0023", Kernel("Float4 v = k.Load4(4 * i);", parameters: "ReadOnlyView<int> k, ReadWriteView<float> b, int n"), "k.Load4(4 * i)" },
        { "GV0023", Kernel("u.Store2(0, new Float2(1f, 2f));", parameters: "ReadWriteView<uint> u, int n"), "u.Store2(0, new Float2(1f, 2f))" },
        { "GV0023", Kernel("var tile = Group.Shared<Float4>(16);"), "Group.Shared<Float4>(16)" },
        { "GV0023", Kernel("var v = new Float4();"), "new Float4()" },
        { "GV0023", Kernel("var v = new Float4(1f, 2f, 3f, 4f) { };"), "new Float4(1f, 2f, 3f, 4f) { }" },
        { "GV0023", Kernel("var text = a.Load2(0).ToString();"), "a.Load2(0).ToString()" },
        { "GV0003", Kernel("", parameters: "Float4 v"), "v" },
        { "GV0003", Kernel("", parameters: "ReadOnlyView<Float4> v"), "v" },
        // GV0024 16-bit floats other than as storage
        { "GV0024", Kernel("Half x = h[i];", parameters: Storage16Parameters), "h[i]" },
        { "GV0024", Kernel("o[i] += (Half)1f;", parameters: Storage16Parameters), "o[i] += (Half)1f" },
        { "GV0024", Kernel("o[i] = h[i];", parameters: Storage16Parameters), "h[i]" },
        { "GV0024", Kernel("o[i] = (Half)n;", parameters: Storage16Parameters), "(Half)n" },
        { "GV0024", Kernel("int k = (int)h[i];", parameters: Storage16Parameters), "(int)h[i]" },
        { "GV0024", Kernel("float y = (float)(h[i] + h[i]);", parameters: Storage16Parameters), "h[i] + h[i]" },
        { "GV0024", Kernel("float y = (float)(o[i] = (Half)1f);", parameters: Storage16Parameters), "o[i] = (Half)1f" },
        { "GV0024", Kernel("float y = (float)(BFloat16)1f;", parameters: Storage16Parameters), "BFloat16" },
        { "GV0024", Kernel("o[i]++;", parameters: Storage16Parameters), "o[i]" },
        { "GV0024", Kernel("var s = Group.Shared<BFloat16>(4); s[0] = bo[i];", parameters: Storage16Parameters), "bo[i]" },
        { "GV0003", Kernel("", parameters: "Half scale"), "scale" },
        { "GV0019", "using System; using GpuViT.Kernels; public static class S { [DeviceFunction] public static Half Narrow(float x) => (Half)x; }", "Narrow" },

        // GV0025 a warp operation that only some threads evaluate
        { "GV0025", Kernel("bool big = i > 3 && Warp.Sum(a[i]) > 1f;"), "Warp.Sum(a[i])" },
        { "GV0025", Kernel("bool any = i > 3 || Warp.Max(a[i]) > 1f;"), "Warp.Max(a[i])" },
        { "GV0025", Kernel("b[i] = i < 16 ? Warp.Shuffle(a[i], 0) : 0f;"), "Warp.Shuffle(a[i], 0)" },
        { "GV0025", Kernel("b[i] = i < 16 ? 0f : 2f * Warp.ShuffleDown(a[i], 1);"), "Warp.ShuffleDown(a[i], 1)" },

        // GV0026 group copies outside a kernel body's statements
        { "GV0026", Kernel("var s = Group.Shared<float>(64); for (int k = 0; k < n; k++, Group.WaitCopies()) { }"), "Group.WaitCopies()" },
        { "GV0026", Kernel("var s = Group.Shared<float>(64); Fill(s, a);", members: "[DeviceFunction] public static void Fill(SharedArray<float> s, ReadOnlyView<float> a) { Group.CopyAsync(s, 0, a, 0, 64); }"), "Group.CopyAsync(s, 0, a, 0, 64)" },
        { "GV0026", Kernel("Wait();", members: "[DeviceFunction] public static void Wait() { Group.WaitCopies(); }"), "Group.WaitCopies()" },

        // GV0027 Mma fragments that are not register arrays, or a constant index past one
        { "GV0027", Kernel(MmaFragments + "Mma.M16N8K8Tf32(d, 2, f, 0, f, 0);"), "2" },
        { "GV0027", Kernel(MmaFragments + "Mma.M16N8K8Tf32(d, 0, f, 0, f, 3);"), "3" },
        { "GV0027", Kernel(MmaFragments + "Mma.M16N8K16Bf16(d, 0, w, -1, w, 0);"), "-1" },
        { "GV0027", Kernel(MmaFragments + "Mma.M16N8K8Tf32(d, 0, i > 0 ? d : f, 0, f, 0);"), "i > 0 ? d : f" },
        { "GV0027", Kernel(MmaFragments + "Mma.M16N8K8Tf32(d, 0, stackalloc float[4], 0, f, 0);"), "stackalloc float[4]" },
    };

    private const string MmaFragments = "Span<float> d = stackalloc float[4]; Span<float> f = stackalloc float[4]; Span<uint> w = stackalloc uint[4];";

    [Fact]
    public void Mma_takes_register_arrays_and_device_function_Span_parameters_with_any_index()
    {
        Result result = Run(Kernel(
            MmaFragments + "Tile(d, w, n); Mma.M16N8K8Tf32(d, 0, f, n, f, 2); b[i] = d[0];",
            members: "[DeviceFunction] public static void Tile(Span<float> acc, Span<uint> x, int at) { Mma.M16N8K16F16(acc, at, x, 0, x, 2); }"));

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilationErrors);
    }

    [Fact]
    public void Mma_fragment_message_says_what_a_fragment_is()
    {
        string message = Message(Kernel(MmaFragments + "Mma.M16N8K8Tf32(d, 2, f, 0, f, 0);"));

        Assert.Equal(
            "In 'Mma.M16N8K8Tf32', fragment d takes 4 elements from index 2, which 'd' (4 elements) does not have; a fragment is a register array "
            + "('Span<float> acc = stackalloc float[N];', or a device function's Span<T> parameter), of float for D and TF32, of uint packed by "
            + "Mma.PackBf16 or Mma.PackHalf for 16-bit A and B, with D 4, A 4 and B 2 elements from its index",
            message);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Construct_is_reported_with_its_id_at_its_location(string id, string source, string at)
    {
        Result result = Run(source);

        Diagnostic diagnostic = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Equal(at, source.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Equal("Sample.cs", diagnostic.Location.GetLineSpan().Path);
    }

    [Fact]
    public void Every_diagnostic_has_a_test_case()
    {
        Type diagnostics = typeof(KernelGenerator).Assembly.GetType("GpuViT.Kernels.Generator.Diagnostics", throwOnError: true)!;
        string[] declared = diagnostics.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id)
            .Order()
            .ToArray();
        string[] tested = Cases.Select(row => row.Data.Item1).Distinct().Order().ToArray();

        // Ids are numbered without gaps, so a descriptor without a case shows as a missing id.
        Assert.Equal(Enumerable.Range(1, declared.Length).Select(n => $"GV{n:0000}"), declared);
        Assert.Equal(declared, tested);
    }

    [Fact]
    public void Messages_say_what_is_allowed_instead()
    {
        Assert.Contains("use KernelMath.Exp", Message(Kernel("b[i] = MathF.Exp(a[i]);")));
        Assert.Contains("0.5f", Message(Kernel("b[i] = (float)(a[i] * 0.5);")));
        Assert.Contains("cast one side", Message(Kernel("uint u = 1u; var mixed = i + u;")));
        Assert.Contains("Group.Shared<T>(N)", Message(Kernel("var scratch = new float[4];")));
        Assert.Contains("use if/else", Message(Kernel("switch (n) { case 0: break; }")));
        Assert.Contains("pass lengths as int parameters", Message(Kernel("int length = a.Length;")));
        Assert.Contains("declare Group.Shared<float>(4 * N) and use Load4/Store4", Message(Kernel("var tile = Group.Shared<Float4>(16);")));
        Assert.Contains("pass a ReadOnlyView<float> and Load2/Load4", Message(Kernel("", parameters: "Float4 v")));
        Assert.Contains("pass a ReadOnlyView<float> and Load2/Load4", Message(Kernel("", parameters: "ReadOnlyView<Float2> v")));
        Assert.Contains("Float4 has no settable members", Message(Kernel("var v = new Float4(1f, 2f, 3f, 4f) { };")));
        Assert.Contains("as in 'new Float2(x, y)'", Message(Kernel("Float2 v = new();")));
        Assert.Contains("is on a ReadOnlyView<int>", Message(Kernel("Float4 v = k.Load4(4 * i);", parameters: "ReadOnlyView<int> k, ReadWriteView<float> b, int n")));
        Assert.Contains("Down -> Down", Message(Kernel("b[i] = Down(a[i]);", members: "[DeviceFunction] public static float Down(float x) => x < 1f ? x : Down(x - 1f);")));
    }

    [Fact]
    public void Faulty_kernel_is_left_out_of_the_catalog()
    {
        Result result = Run(Kernel("b[i] = MathF.Exp(a[i]);", members: "[Kernel] public static void Fine(KernelThread t, ReadWriteView<float> x) { x[0] = 1f; }"));

        Assert.Contains("Fine", result.Catalog);
        Assert.DoesNotContain("Probe", result.Catalog);
        Assert.Empty(result.CompilationErrors);
    }

    [Fact]
    public void Unused_device_function_is_checked_too()
    {
        Result result = Run("using GpuViT.Kernels; public static class S { [DeviceFunction] public static float F(float x) { string s = \"no\"; return x; } }");

        Assert.Equal(["GV0006"], result.Ids);
    }

    [Fact]
    public void Sixteen_bit_messages_show_the_two_storage_forms()
    {
        string message = Message(Kernel("Half x = h[i];", parameters: Storage16Parameters));
        Assert.Contains("'(float)view[i]'", message);
        Assert.Contains("'view[i] = (Half)x;'", message);
        Assert.Contains("'view[i] = (BFloat16)x;'", message);
        Assert.Contains("(Half)(float)x", Message(Kernel("o[i] = (Half)n;", parameters: Storage16Parameters)));
        Assert.Contains("16-bit", Message(Kernel("", parameters: "Half scale")));
        Assert.Contains("16-bit", Message("using System; using GpuViT.Kernels; public static class S { [DeviceFunction] public static Half Narrow(float x) => (Half)x; }"));
        Assert.Contains("compound assignment", Message(Kernel("o[i] += (Half)1f;", parameters: Storage16Parameters)));
    }

    private const string Storage16Parameters = "ReadOnlyView<Half> h, ReadWriteView<Half> o, ReadWriteView<BFloat16> bo, int n";

    private static string Message(string source) => Assert.Single(Run(source).GeneratorDiagnostics).GetMessage();
}
