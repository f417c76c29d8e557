def run(result, env, *args):
    result.check("not written yet", False)
