using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

// Warp operations (thread.Lane, thread.Warp, Warp.*) and group copies (Group.CopyAsync, Group.WaitCopies).
internal sealed partial class FunctionTranslator
{
    /// <summary>Whether the kernel body starts group copies: its OpenCL body then declares the copies' event.</summary>
    public bool UsesGroupCopy { get; private set; }

    /// <summary>thread.Lane or thread.Warp: an int expression from the table; null for any other member.</summary>
    private string? ThreadScalar(MemberAccessExpressionSyntax member)
    {
        if (member.Expression is not IdentifierNameSyntax
            || !KernelTypes.IsKernelThread(_model.GetTypeInfo(member.Expression).Type)
            || _model.GetSymbolInfo(member).Symbol is not IPropertySymbol { Type.SpecialType: SpecialType.System_Int32 } property)
        {
            return null;
        }

        return IntrinsicOrReport(property, member) is { } intrinsic ? _dialect.Spelling(intrinsic) : Error;
    }

    private bool IsGroupCopy(InvocationExpressionSyntax call) => IsGroupMethod(call, "CopyAsync") || IsGroupMethod(call, "WaitCopies");

    /// <summary>Group.CopyAsync(...); or Group.WaitCopies(); as a statement: only in a kernel body (the OpenCL event lives there).</summary>
    private void GroupCopyStatement(InvocationExpressionSyntax call)
    {
        var method = (IMethodSymbol)_model.GetSymbolInfo(call).Symbol!;
        if (IntrinsicOrReport(method, call) is not { } intrinsic)
        {
            return;
        }

        if (!_isKernel)
        {
            Report(Diagnostics.GroupCopy, call, Show(call), "is in a device function (the copies' state lives in the kernel body: call it there)");
            return;
        }

        UsesGroupCopy = true;
        Line(IntrinsicCall(intrinsic, call) + ";");
    }

    /// <summary>
    /// An operand that only some threads may evaluate (the right of &amp;&amp; or ||, a branch of ?:):
    /// GV0025 for a collective operation in it (a warp operation), which every thread must reach.
    /// Null when it has none.
    /// </summary>
    private string? ConditionalWarpOperation(ExpressionSyntax operand, string where)
    {
        InvocationExpressionSyntax? warp = operand.DescendantNodesAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault(call =>
            _model.GetSymbolInfo(call).Symbol is IMethodSymbol method && Intrinsics.IsIntrinsicMember(method) && Intrinsics.Find(method) is { Collective: true });
        return warp is null ? null : Fail(Diagnostics.WarpOperation, warp, Show(warp), "is evaluated by only some threads (" + where + ")");
    }

    private string Conditional(ConditionalExpressionSyntax conditional) =>
        ConditionalWarpOperation(conditional.WhenTrue, "a branch of ?:")
        ?? ConditionalWarpOperation(conditional.WhenFalse, "a branch of ?:")
        ?? Expression(conditional.Condition) + " ? " + Expression(conditional.WhenTrue) + " : " + Expression(conditional.WhenFalse);

    /// <summary>For &amp;&amp; and ||: GV0025 for a warp operation on the right, which only some threads evaluate.</summary>
    private string? ShortCircuitWarpOperation(BinaryExpressionSyntax binary) =>
        binary.Kind() is SyntaxKind.LogicalAndExpression or SyntaxKind.LogicalOrExpression
            ? ConditionalWarpOperation(binary.Right, "the right operand of '" + binary.OperatorToken.Text + "'")
            : null;
}
