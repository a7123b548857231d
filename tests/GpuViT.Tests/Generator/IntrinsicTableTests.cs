using System.Globalization;
using System.Reflection;
using GpuViT.Kernels.Generator;
using Microsoft.CodeAnalysis;
using static GpuViT.Tests.Generator.GeneratorHarness;

namespace GpuViT.Tests.Generator;

/// <summary>
/// The generator's intrinsic table against the kernel language: one entry for every intrinsic
/// member (so a new KernelMath.Sin without one fails here), each compiling to its entry's
/// spelling in OpenCL C and CUDA C, and a member without an entry reported as GV0021.
/// </summary>
public sealed class IntrinsicTableTests
{
    /// <summary>Declared in a sample, this KernelMath stands in for the library's with a new member.</summary>
    public const string KernelMathWithSin =
        "namespace GpuViT.Kernels { public static class KernelMath { public static float Sin(float x) => MathF.Sin(x); } }";

    /// <summary>Declared in a sample, this KernelThread stands in for the library's with a new index.</summary>
    public const string KernelThreadWithQuad =
        "namespace GpuViT.Kernels { public readonly struct KernelThread { public Int3 Global => default; public Int3 Quad => default; } }";

    public static TheoryData<string> Members => IntrinsicMembers.Names;

    [Fact]
    public void Table_has_one_entry_for_every_intrinsic_member_and_no_other()
    {
        string[] table = Intrinsics.All.Select(i => i.Class + "." + i.Member).Order().ToArray();

        Assert.Equal(IntrinsicMembers.All.Keys.Order(), table);
    }

    [Theory]
    [MemberData(nameof(Members))]
    public void Member_compiles_to_its_table_spelling_in_both_dialects(string member)
    {
        Intrinsic intrinsic = Assert.Single(Intrinsics.All, i => i.Class + "." + i.Member == member);

        Result result = Run(Kernel(IntrinsicMembers.Body(member), parameters: IntrinsicMembers.ParametersFor(member)));

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilationErrors);
        Assert.Contains(Expected(member, intrinsic.OpenCL.Replace(Intrinsics.Dimension, "1").Replace(Intrinsics.Space, "global")), result.KernelSource("openCLSource"));
        Assert.Contains(Expected(member, intrinsic.Cuda.Replace(Intrinsics.Dimension, "y")), result.KernelSource("cudaSource"));
    }

    [Fact]
    public void Member_missing_from_the_table_is_GV0021_saying_where_to_add_it()
    {
        Result result = Run(Kernel("b[i] = KernelMath.Sin(a[i]);") + KernelMathWithSin);

        Diagnostic diagnostic = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("GV0021", diagnostic.Id);
        Assert.Equal(
            "'KernelMath.Sin(float)' has no OpenCL C/CUDA C mapping yet; add its spellings to the intrinsic table in src/Kernels/Generator/Intrinsics.cs",
            diagnostic.GetMessage(CultureInfo.InvariantCulture));
        Assert.Null(result.Catalog);
    }

    /// <summary>What the generated C must contain: the call on the probe's arguments, the cast index, the statement or the declaration.</summary>
    private static string Expected(string member, string spelling) => IntrinsicMembers.All[member] switch
    {
        PropertyInfo { PropertyType.Name: "Int32" } => spelling,
        PropertyInfo => "(int)" + spelling,
        MethodInfo { Name: "CopyAsync" } copy => spelling + IntrinsicMembers.CopyCall(copy)["Group.CopyAsync".Length..] + ";",
        MethodInfo { Name: "Copy4" or "Copy8" } copy => spelling + IntrinsicMembers.AsyncCopyArguments(copy) + ";",
        MethodInfo method when spelling.Contains(Intrinsics.Arguments) =>
            spelling.Replace(Intrinsics.Arguments, string.Join(", ", IntrinsicMembers.Arguments(method))).Replace(Intrinsics.Scratch, Intrinsics.ScratchName),
        MethodInfo when member == IntrinsicMembers.SharedMember => spelling + " float probe[4];",
        MethodInfo method when method.GetParameters().Length == 0 => spelling + (spelling.EndsWith(')') ? ";" : "();"),
        MethodInfo method => spelling + "(" + string.Join(", ", IntrinsicMembers.Arguments(method).Select(a => a.Replace("ref ", "&"))) + ")",
        _ => throw new InvalidOperationException($"'{member}' is neither a method nor a property"),
    };
}
